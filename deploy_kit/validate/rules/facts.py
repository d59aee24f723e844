"""What every domain rule reads: the DK rule table, the lint context, one vLLM call's facts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from deploy_kit.catalog import Catalog
from deploy_kit.errors import InputError
from deploy_kit.spec import Checkpoint, HardwareProfile, LegacyModel, ModelCard
from deploy_kit.validate.findings import Finding, Severity
from deploy_kit.validate.invocations.base import Container, VllmCall, Where, symbolic
from deploy_kit.vllm import argv as vllm


@dataclass(frozen=True)
class Rule:
    """A domain rule's metadata (used by every reporter, SARIF included)."""

    id: str
    name: str
    severity: Severity
    title: str
    hint: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "DK100",
            "vllm-argv",
            "error",
            "vLLM arguments the pinned vLLM version rejects",
            "check the flag against `vllm serve --help=all` of the pinned vLLM version",
        ),
        Rule(
            "DK101",
            "gpu-count",
            "error",
            "GPUs requested differ from TP x PP x DP per pod",
            "request exactly the GPUs this node's ranks use (TP x PP x local DP)",
        ),
        Rule(
            "DK102",
            "group-size",
            "error",
            "pods per engine differ from the nodes vLLM joins",
            f"set leaderWorkerTemplate.size to the nodes per engine ({vllm.F_NNODES}, or DP / "
            "local DP)",
        ),
        Rule(
            "DK103",
            "node-ranks",
            "error",
            "node ranks, start ranks or head address are wrong",
            "derive ranks from LWS_WORKER_INDEX (workers) or give every node its own rank",
        ),
        Rule(
            "DK104",
            "parallel-vs-model",
            "error",
            "parallel sizes do not fit the model",
            "pick a TP that divides the attention heads and output groups",
        ),
        Rule(
            "DK105",
            "fp8-block",
            "error",
            "FP8 128-block rule broken by the TP shard width",
            "lower TP, or enable expert parallelism so experts stay whole",
        ),
        Rule(
            "DK106",
            "shm",
            "error",
            "/dev/shm missing or tiny for a multi-GPU server",
            "mount an emptyDir (medium: Memory) at /dev/shm, or set shm_size / ipc: host",
        ),
        Rule(
            "DK107",
            "probe-before-load",
            "error",
            "a probe gives up before the model loads",
            "add a startupProbe whose periodSeconds x failureThreshold covers the load time",
        ),
        Rule(
            "DK108",
            "engine-ready-timeout",
            "error",
            "VLLM_ENGINE_READY_TIMEOUT_S shorter than the load time",
            f"set {vllm.ENV_READY_TIMEOUT} to at least twice the estimated load time",
        ),
        Rule(
            "DK109",
            "max-model-len-model",
            "error",
            f"{vllm.F_MAX_MODEL_LEN} beyond the model's limit",
            "use at most the model's max_position_embeddings",
        ),
        Rule(
            "DK110",
            "max-model-len-memory",
            "error",
            f"one request of {vllm.F_MAX_MODEL_LEN} does not fit the KV cache (with --hardware)",
            f"lower {vllm.F_MAX_MODEL_LEN}, raise TP/DP, or use GPUs with more memory",
        ),
        Rule(
            "DK111",
            "image-unpinned",
            "error",
            "image is `latest` or has no tag",
            "pin a release tag (vllm/vllm-openai:v0.33.0) or a digest",
        ),
        Rule(
            "DK112",
            "inline-secret",
            "error",
            "secret value written into the file",
            "reference a Secret (secretKeyRef), an env file or ${VAR}; rotate the leaked value",
        ),
        Rule(
            "DK113",
            "v4-flags",
            "error",
            "flags DeepSeek V4 needs are missing or wrong",
            "add "
            + " ".join(f"{flag} {value}" for flag, value in vllm.REQUIRED_V4.items())
            + f" and {vllm.F_TOOL_PARSER} / {vllm.F_REASONING_PARSER} {vllm.V4_PARSER}",
        ),
        Rule(
            "DK114",
            "removed-env",
            "error",
            "environment variable removed from vLLM",
            "delete it: vLLM's V1 engine ignores it",
        ),
        Rule(
            "DK115",
            "compose-host-network",
            "error",
            "multi-node compose service without host networking",
            "set network_mode: host so NCCL, Gloo and the DP/torch ports reach other nodes",
        ),
        Rule(
            "DK116",
            "compose-interfaces",
            "warning",
            "multi-node compose service without NCCL/Gloo interface variables",
            "set NCCL_SOCKET_IFNAME and GLOO_SOCKET_IFNAME to the inter-node interface",
        ),
        Rule(
            "DK117",
            "compose-unjoined",
            "error",
            "several vLLM servers in one compose file that never join one engine",
            f"join them with {vllm.F_NNODES}/{vllm.F_NODE_RANK}/{vllm.F_MASTER_ADDR} or "
            f"{vllm.F_DP_ADDRESS} (+ {vllm.F_HEADLESS}), or pin disjoint device_ids if they are "
            "meant as replicas",
        ),
        Rule(
            "DK118",
            "program-in-args",
            "error",
            "args name a program, but the image's ENTRYPOINT already runs the server",
            "put the program in command: (Kubernetes) / entrypoint: (compose), or give only "
            "the server's arguments",
        ),
    )
}

MIN_SHM_BYTES = 1024**3
_V4_NAME = re.compile(r"deepseek-v4", re.IGNORECASE)


@dataclass(frozen=True)
class LintContext:
    """What every rule may consult: the catalog, the optional hardware, the pinned vLLM."""

    catalog: Catalog
    hardware: HardwareProfile | None
    version: str


def finding(
    rule_id: str,
    where: Where,
    message: str,
    *,
    severity: Severity | None = None,
    hint: str | None = None,
) -> Finding:
    rule = RULES[rule_id]
    return Finding(
        rule=rule_id,
        severity=severity or rule.severity,
        message=message,
        file=where.file,
        line=where.line,
        document=where.document,
        path=where.json_path,
        hint=hint or rule.hint,
        source="deploy-kit",
    )


class Facts:
    """Parallel layout and model of one vLLM call, as far as the argv states them."""

    def __init__(self, container: Container, call: VllmCall, ctx: LintContext) -> None:
        self.container = container
        self.call = call
        self.ctx = ctx
        parsed = call.parsed
        self.tp = self.int_flag(vllm.F_TP, 1)
        self.pp = self.int_flag(vllm.F_PP, 1)
        self.dp = self.int_flag(vllm.F_DP, 1)
        self.dp_local = self.int_flag(vllm.F_DP_LOCAL, None) if self.given(vllm.F_DP_LOCAL) else 0
        self.nnodes = self.int_flag(vllm.F_NNODES, 1)
        self.headless = parsed.switch(vllm.F_HEADLESS) is True
        self.ep = parsed.switch(vllm.F_EP) is True
        self.hybrid_lb = parsed.switch(vllm.F_DP_HYBRID_LB) is True
        self.model = parsed.model

    @property
    def start(self) -> Where:
        """Where the call's own arguments begin (the model), for "missing flag" findings."""
        return self.call.at(len(self.call.parsed.prog))

    def given(self, flag: str) -> bool:
        return flag in self.call.parsed.flags

    def raw(self, flag: str) -> str | None:
        return self.call.parsed.value(flag)

    def int_flag(self, flag: str, default: int | None) -> int | None:
        """The flag's integer value; `default` when absent; None when symbolic or not a number."""
        value = self.call.parsed.value(flag)
        if flag not in self.call.parsed.flags:
            return default
        if value is None or symbolic(value):
            return None
        try:
            return int(value)
        except ValueError:
            return None

    @cached_property
    def checkpoint(self) -> Checkpoint | None:
        return checkpoint_for(self.ctx.catalog, self.model)

    @cached_property
    def card(self) -> ModelCard | None:
        ckpt = self.checkpoint
        return self.ctx.catalog.model_of(ckpt) if ckpt is not None else None

    @property
    def over_ray(self) -> bool:
        """Whether the engine spreads over the Ray cluster this container is a node of: a Ray
        node whose vLLM picks no other executor (mp, uni, external_launcher) and joins no nodes
        itself (--nnodes). vLLM takes Ray when the world exceeds the local GPUs and Ray is up."""
        if self.container.ray is None:
            return False
        backend = self.raw(vllm.F_EXECUTOR)
        if backend is not None and not symbolic(backend) and backend != "ray":
            return False
        return self.nnodes is not None and self.nnodes <= 1

    @cached_property
    def legacy(self) -> LegacyModel | None:
        """An earlier DeepSeek the catalog keeps for lint (None when a V4 checkpoint is served)."""
        if self.checkpoint is not None or not self.model or symbolic(self.model):
            return None
        return self.ctx.catalog.legacy_model(self.model)

    @property
    def is_v4(self) -> bool:
        return self.checkpoint is not None or bool(self.model and _V4_NAME.search(self.model))

    @property
    def multi_node(self) -> bool:
        """Whether this call is one node of an engine spanning several."""
        return (
            self.nodes_per_engine != 1
            or self.headless
            or any(self.given(f) for f in (vllm.F_DP_ADDRESS, vllm.F_MASTER_ADDR))
        )

    @property
    def nodes_per_engine(self) -> int | None:
        if self.nnodes is None:
            return None
        if self.nnodes > 1:
            return self.nnodes
        if self.dp_local == 0:
            return 1
        if self.dp is None or not self.dp_local:
            return None
        return max(1, self.dp // self.dp_local) if self.dp % self.dp_local == 0 else None

    @property
    def ranks_per_node(self) -> int | None:
        """GPUs this node's ranks use: TP x PP x local DP (or the world over the nodes). Over
        Ray, Ray places the ranks on the cluster's GPUs: this pod's share is what it requests."""
        if self.over_ray:
            gpus = self.container.gpus
            return gpus.count if gpus is not None and gpus.count else None
        if None in (self.tp, self.pp, self.dp, self.nnodes):
            return None
        tp, pp, dp, nnodes = self.tp or 1, self.pp or 1, self.dp or 1, self.nnodes or 1
        if nnodes > 1:
            world = tp * pp * dp
            return world // nnodes if world % nnodes == 0 else None
        if self.dp_local is None:
            return None
        return tp * pp * (self.dp_local or dp)

    def layout_text(self) -> str:
        parts = [f"TP {self.tp}", f"PP {self.pp}", f"DP {self.dp}"]
        if self.dp_local:
            parts.append(f"local DP {self.dp_local}")
        if self.nnodes and self.nnodes > 1:
            parts.append(f"{self.nnodes} nodes")
        return " x ".join(parts[:3]) + (f" ({', '.join(parts[3:])})" if parts[3:] else "")


def checkpoint_for(catalog: Catalog, model: str | None) -> Checkpoint | None:
    """The catalog checkpoint a served model names (HF id, short id or a local copy's path)."""
    if not model or symbolic(model):
        return None
    try:
        return catalog.checkpoint(model)
    except InputError:
        pass
    base = model.rstrip("/").rsplit("/", 1)[-1].lower()
    for ckpt in catalog.checkpoints.values():
        if ckpt.hf_id.rsplit("/", 1)[-1].lower() == base:
            return ckpt
    return None
