"""Domain rules on pods: GPUs vs ranks, /dev/shm, LeaderWorkerSet size, ranks and agreement."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from deploy_kit.validate.findings import Finding
from deploy_kit.validate.invocations.base import Container, is_vllm_image, symbolic
from deploy_kit.validate.rules.facts import MIN_SHM_BYTES, Facts, finding
from deploy_kit.vllm import argv as vllm

WORKER_INDEX = "LWS_WORKER_INDEX"
_INDEX = r"\$?\{?" + WORKER_INDEX + r"\}?"
_PLAIN_INDEX = re.compile(
    r"^\$(?:\(" + WORKER_INDEX + r"\)|\{" + WORKER_INDEX + r"\}|" + WORKER_INDEX + r")$"
)
_TIMES = re.compile(
    r"^\$\(\(\s*(?:" + _INDEX + r"\s*\*\s*(\d+)|(\d+)\s*\*\s*" + _INDEX + r")\s*\)\)$"
)
# Flags leader and workers of one engine must agree on.
_AGREE = (
    vllm.F_TP,
    vllm.F_PP,
    vllm.F_DP,
    vllm.F_DP_LOCAL,
    vllm.F_NNODES,
    vllm.F_KV_DTYPE,
    vllm.F_BLOCK_SIZE,
    vllm.F_MAX_MODEL_LEN,
)


def check(f: Facts) -> list[Finding]:
    """DK101 and DK106 for pods and compose services; DK102/DK103 for Kubernetes workloads."""
    out = gpu_rule(f) + shm_rule(f)
    if f.container.source == "kubernetes":
        out += group_size_rule(f) + lws_rank_rule(f)
    return out


def gpu_rule(f: Facts) -> list[Finding]:
    """DK101: GPUs given to the container = TP x PP x local DP of its vLLM call."""
    c = f.container
    need = f.ranks_per_node
    if c.source == "dockerfile" or need is None or f.over_ray:
        return []  # over Ray the ranks spread over the cluster: domain_launch counts them
    if c.gpus is None:
        if need == 1 and not is_vllm_image(c.image):
            return []  # one rank, no GPU, an image that may be a CPU build (OpenVINO, vllm-cpu)
        return [
            finding(
                "DK101",
                c.where,
                f"{c.label}: requests no GPU, but its vLLM ranks need {need} ({f.layout_text()})",
            )
        ]
    if c.gpus.count is None or c.gpus.count == need:
        return []
    return [
        finding(
            "DK101",
            c.gpus.where,
            f"{c.label}: requests {c.gpus.count} GPU(s), but "
            f"{f.layout_text()} runs {need} rank(s) on this node",
        )
    ]


def shm_rule(f: Facts) -> list[Finding]:
    """DK106: a server with several ranks on the node has a real /dev/shm."""
    c = f.container
    return shm_check(c, f.ranks_per_node or (c.gpus.count if c.gpus else None))


def shm_check(c: Container, ranks: int | None) -> list[Finding]:
    """DK106 for a container running `ranks` GPU ranks (a vLLM server or a Ray worker)."""
    if c.shm is None or not ranks or ranks <= 1:
        return []
    if not c.shm.present:
        return [
            finding(
                "DK106",
                c.shm.where,
                f"{c.label}: no /dev/shm mount ({c.shm.how}) "
                f"while {ranks} ranks on this node exchange tensors through it",
            )
        ]
    size = c.shm.size_bytes
    if size is not None and size < MIN_SHM_BYTES:
        return [
            finding(
                "DK106",
                c.shm.where,
                f"{c.label}: /dev/shm is only {size / 2**20:.0f} "
                f"MiB for {ranks} ranks; NCCL needs at least 1 GiB",
            )
        ]
    return []


def group_size_rule(f: Facts) -> list[Finding]:
    """DK102: an LWS group has as many pods as the engine has nodes; Deployments have one."""
    c = f.container
    nodes = f.nodes_per_engine
    if nodes is None or f.over_ray:
        return []  # a Ray engine spans the Ray cluster, whatever vLLM's own node flags say
    if c.lws is None:
        if nodes <= 1:
            return []
        flag = vllm.F_NNODES if (f.nnodes or 1) > 1 else vllm.F_DP_LOCAL
        return [
            finding(
                "DK102",
                f.call.where_of(flag),
                f"{c.label}: a {c.workload_kind} runs "
                f"independent pods, which never join one engine over {nodes} nodes",
                hint=f"use a LeaderWorkerSet with leaderWorkerTemplate.size {nodes}",
            )
        ]
    size = c.lws.size
    if c.lws.role == "worker" or size is None or size == nodes:
        return []
    if nodes == 1:
        why = "but its vLLM is a single-node engine, so the workers never join it"
    elif (f.nnodes or 1) > 1:
        why = f"but {vllm.F_NNODES} is {f.nnodes}"
    else:
        why = f"but DP {f.dp} / local DP {f.dp_local} = {nodes} nodes"
    return [finding("DK102", c.lws.where, f"{c.label}: group size {size} {why}")]


def lws_rank_rule(f: Facts) -> list[Finding]:
    """DK103: leader is rank 0 and serves; workers take their rank from LWS_WORKER_INDEX."""
    c = f.container
    lws = c.lws
    if lws is None:
        return []
    if lws.role == "leader":
        return _leader(f)
    nodes = f.nodes_per_engine
    if nodes is None or nodes <= 1:
        return []
    dp_mode = (f.nnodes or 1) <= 1
    flag = vllm.F_DP_START_RANK if dp_mode else vllm.F_NODE_RANK
    step = (f.dp_local or 0) if dp_mode else 1
    out: list[Finding] = []
    raw = f.raw(flag)
    if raw is None:
        out.append(
            finding(
                "DK103",
                f.start,
                f"{c.label}: {flag} is missing, so every worker claims rank 0, the leader's",
            )
        )
    elif step:
        problem = _rank_problem(raw, step, lws.size if lws.role == "worker" else None)
        if problem:
            out.append(finding("DK103", f.call.where_of(flag), f"{c.label}: {flag} {problem}"))
    if lws.role == "both":
        return out
    address = vllm.F_DP_ADDRESS if dp_mode else vllm.F_MASTER_ADDR
    if not f.given(address):
        out.append(
            finding(
                "DK103",
                f.start,
                f"{c.label}: {address} is missing; "
                "workers find the leader through $(LWS_LEADER_ADDRESS)",
            )
        )
    if f.hybrid_lb and f.headless:
        out.append(
            finding(
                "DK103",
                f.call.where_of(vllm.F_HEADLESS),
                f"{c.label}: {vllm.F_HEADLESS} cannot be combined with {vllm.F_DP_HYBRID_LB}",
            )
        )
    elif not f.hybrid_lb and not f.headless:
        out.append(
            finding(
                "DK103",
                f.start,
                f"{c.label}: worker without "
                f"{vllm.F_HEADLESS} starts a second API server and engine front-end",
            )
        )
    return out


def _leader(f: Facts) -> list[Finding]:
    c = f.container
    out: list[Finding] = []
    if f.headless and not f.hybrid_lb:
        out.append(
            finding(
                "DK103",
                f.call.where_of(vllm.F_HEADLESS),
                f"{c.label}: the leader runs {vllm.F_HEADLESS}, so no node serves the API",
            )
        )
    for flag in (vllm.F_NODE_RANK, vllm.F_DP_START_RANK):
        raw = f.raw(flag)
        if raw is not None and not symbolic(raw) and raw.strip() != "0":
            out.append(
                finding(
                    "DK103",
                    f.call.where_of(flag),
                    f"{c.label}: the leader must be rank 0, not {flag} {raw}",
                )
            )
    return out


def _rank_problem(raw: str, step: int, size: int | None) -> str | None:
    if WORKER_INDEX in raw:
        if _PLAIN_INDEX.match(raw.strip()):
            multiplier = 1
        else:
            m = _TIMES.match(raw.strip())
            if m is None:
                return None  # some other expression: cannot tell
            multiplier = int(m.group(1) or m.group(2))
        if multiplier != step:
            return (
                f"is {WORKER_INDEX} x {multiplier}, but each node runs {step} rank(s): "
                "ranks overlap or leave gaps"
            )
        return None
    if symbolic(raw):
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    if size == 2 and value == step:
        return None  # one worker: a literal rank is right
    return (
        f"is the literal {value} in a template every worker shares; derive it from "
        f"{WORKER_INDEX} (x {step})"
    )


def check_groups(facts: Sequence[Facts]) -> list[Finding]:
    """DK103: the leader and worker templates of one LeaderWorkerSet agree on the engine."""
    groups: dict[str, dict[str, Facts]] = defaultdict(dict)
    for f in facts:
        lws = f.container.lws
        if lws is not None and lws.role in ("leader", "worker"):
            groups[f.container.group].setdefault(lws.role, f)
    out: list[Finding] = []
    for roles in groups.values():
        leader, worker = roles.get("leader"), roles.get("worker")
        if leader is None or worker is None:
            continue
        for flag in _AGREE:
            a, b = leader.raw(flag), worker.raw(flag)
            if a is None or b is None or symbolic(a) or symbolic(b) or a == b:
                continue
            out.append(
                finding(
                    "DK103",
                    worker.call.where_of(flag),
                    f"{worker.container.label}: {flag} {b} differs from the "
                    f"leader's {a}; one engine needs the same value on every node",
                )
            )
        if leader.model and worker.model and leader.model != worker.model:
            out.append(
                finding(
                    "DK103",
                    worker.call.wheres[0],
                    f"{worker.container.label}: serves {worker.model!r}, the leader "
                    f"{leader.model!r}",
                )
            )
    return out
