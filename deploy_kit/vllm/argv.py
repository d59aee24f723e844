"""Plan -> vLLM argv and env for the pinned vLLM version: the only place flags are spelled."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deploy_kit.errors import InputError
from deploy_kit.spec import Checkpoint, GpuSpec

if TYPE_CHECKING:
    from deploy_kit.spec import Plan

# The vLLM version whose `vllm serve --help=all` is in the repo (catalog/vllm_flags_0.33.0.json)
# and whose KV layout is encoded in catalog/kv_layouts.yaml.
PINNED_VLLM = "0.33.0"
SERVE_PORT = 8000
# vLLM docs (data_parallel_deployment.md) use 13345 for the DP RPC port; 29501 is torch's
# customary rendezvous port, distinct from vLLM's default so it never collides with a DP port.
DP_RPC_PORT = 13345
MASTER_PORT = 29501
# vLLM waits this long for engines to be ready; default 600 s is shorter than V4's load time
# (facts section 6: set 3600, Flash takes ~8 min to ready).
ENGINE_READY_TIMEOUT_MIN_S = 3600

# Flag names, spelled once. Other modules (lint rules, renderers) import these constants.
F_TP = "--tensor-parallel-size"
F_PP = "--pipeline-parallel-size"
F_DP = "--data-parallel-size"
F_DP_LOCAL = "--data-parallel-size-local"
F_DP_ADDRESS = "--data-parallel-address"
F_DP_RPC_PORT = "--data-parallel-rpc-port"
F_DP_START_RANK = "--data-parallel-start-rank"
F_DP_HYBRID_LB = "--data-parallel-hybrid-lb"
F_DP_EXTERNAL_LB = "--data-parallel-external-lb"
F_DP_MULTI_PORT_LB = "--data-parallel-multi-port-external-lb"
F_DP_RANK = "--data-parallel-rank"
F_API_SERVERS = "--api-server-count"
F_EP = "--enable-expert-parallel"
F_NNODES = "--nnodes"
F_NODE_RANK = "--node-rank"
F_MASTER_ADDR = "--master-addr"
F_MASTER_PORT = "--master-port"
F_HEADLESS = "--headless"
F_MAX_MODEL_LEN = "--max-model-len"
F_KV_DTYPE = "--kv-cache-dtype"
F_BLOCK_SIZE = "--block-size"
F_TOKENIZER_MODE = "--tokenizer-mode"
F_TOOL_PARSER = "--tool-call-parser"
F_AUTO_TOOL = "--enable-auto-tool-choice"
F_REASONING_PARSER = "--reasoning-parser"
F_TRUST_REMOTE_CODE = "--trust-remote-code"
F_GPU_UTIL = "--gpu-memory-utilization"
F_KV_BYTES = "--kv-cache-memory-bytes"
F_MAX_NUM_SEQS = "--max-num-seqs"
F_MAX_BATCHED = "--max-num-batched-tokens"
F_NO_ASYNC = "--no-async-scheduling"
F_SERVED_NAME = "--served-model-name"
F_HOST = "--host"
F_PORT = "--port"
F_SPECULATIVE = "--speculative-config"
F_ATTENTION_CONFIG = "--attention-config"
F_COMPILATION_CONFIG = "--compilation-config"
F_MOE_BACKEND = "--moe-backend"
F_KV_TRANSFER_CONFIG = "--kv-transfer-config"
F_NO_FLASHINFER_AUTOTUNE = "--disable-flashinfer-autotune"
# vLLM 0.33's short aliases of the parallel flags (the flag table generated from its parser:
# catalog/vllm_flags_0.33.0.json, "aliases"); hand-written files use them.
SHORT_ALIASES = {F_TP: "-tp", F_PP: "-pp", F_DP: "-dp", F_EP: "-ep", F_DP_LOCAL: "-dpl"}
F_EXECUTOR = "--distributed-executor-backend"
SERVE = ("vllm", "serve")

# Values V4 requires (facts section 6 base args); lint checks them under these names.
REQUIRED_V4 = {F_KV_DTYPE: "fp8", F_BLOCK_SIZE: "256", F_TOKENIZER_MODE: "deepseek_v4"}
V4_PARSER = "deepseek_v4"
KV_CACHE_DTYPE = "fp8"
BLOCK_SIZE = 256

ENV_READY_TIMEOUT = "VLLM_ENGINE_READY_TIMEOUT_S"
# Either one switches `vllm serve` to the Rust frontend, which waits for the engines like a
# second API server does (vLLM 0.33 envs.py, rust_frontend_path).
ENV_RUST_FRONTEND = ("VLLM_USE_RUST_FRONTEND", "VLLM_USE_RUST_BENCH")
ENV_API_KEY = "VLLM_API_KEY"
ENV_HF_TOKEN = "HF_TOKEN"
ENV_HOST_IP = "VLLM_HOST_IP"
ENV_ROCM_AITER = "VLLM_ROCM_USE_AITER"
NETWORK_IF_ENV = ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME")
ENV_NCCL_IB_HCA = "NCCL_IB_HCA"
# Removed in vLLM's V1-only releases; setting them is a mistake copied from old guides.
REMOVED_ENV = ("VLLM_USE_V1", "VLLM_ATTENTION_BACKEND")

BLACKWELL_DC = ("blackwell", "blackwell-ultra")
INDEXER_KV_DTYPE = "indexer_kv_dtype"


@dataclass(frozen=True)
class Addressing:
    """How one target names the head node and this node's ranks inside argv."""

    head: str
    node_rank: str
    dp_start_rank: str

    @staticmethod
    def concrete(head: str, rank: int, dp_local: int) -> Addressing:
        return Addressing(head=head, node_rank=str(rank), dp_start_rank=str(rank * dp_local))


def image_for(gpu: GpuSpec, version: str) -> str:
    """The pinned official image for the GPU's vendor (never `latest`)."""
    repo = "vllm/vllm-openai-rocm" if gpu.vendor == "amd" else "vllm/vllm-openai"
    return f"{repo}:v{version}"


def require_pinned(image: str) -> None:
    """A version tag or a digest; `latest` or no tag would let the base change under the plan."""
    name = image.rsplit("/", 1)[-1]
    tag = name.split(":", 1)[1] if ":" in name else ""
    if "@sha256:" in image or (tag and tag != "latest"):
        return
    raise InputError(
        f"image {image!r} is not pinned to a version",
        hint="pass --image REPO:TAG with a release tag (or REPO@sha256:DIGEST), never latest",
    )


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def speculative_config(checkpoint: Checkpoint, gpu: GpuSpec) -> str | None:
    spec = checkpoint.speculative
    if spec is None:
        return None
    tokens = spec.num_speculative_tokens
    if gpu.arch == "hopper" and spec.hopper_num_speculative_tokens is not None:
        tokens = spec.hopper_num_speculative_tokens
    config: dict[str, object] = {"method": spec.method, "num_speculative_tokens": tokens}
    if spec.draft_sample_method:
        config["draft_sample_method"] = spec.draft_sample_method
    return _json(config)


def hardware_args(plan: Plan) -> list[str]:
    """Per-GPU-generation flags from the recipes (facts section 6)."""
    gpu = plan.hardware.gpu
    args: list[str] = []
    fp8_experts = plan.weights in ("fp8", "fp8-block")
    # The recipes' `--attention_config.use_fp4_indexer_cache` predates vLLM 0.33, whose
    # AttentionConfig has `indexer_kv_dtype` (auto | fp8 | mxfp4; mxfp4 only on SM10x).
    if gpu.arch in BLACKWELL_DC:
        args += [F_ATTENTION_CONFIG, _json({INDEXER_KV_DTYPE: "mxfp4"})]
        if fp8_experts and plan.expert_parallel:
            args += [F_MOE_BACKEND, "deep_gemm_mega_moe"]
        if plan.data_parallel > 1 and plan.expert_parallel:
            args += [
                F_COMPILATION_CONFIG,
                _json({"cudagraph_mode": "FULL_AND_PIECEWISE", "custom_ops": ["all"]}),
            ]
    elif gpu.arch == "blackwell-workstation":
        args += [F_ATTENTION_CONFIG, _json({INDEXER_KV_DTYPE: "fp8"})]
        args += [F_MOE_BACKEND, "auto"]
    elif gpu.arch == "hopper":
        args += [F_NO_FLASHINFER_AUTOTUNE]
        if plan.model == "deepseek-v4-pro":
            args += [F_COMPILATION_CONFIG, _json({"mode": 0, "cudagraph_mode": "FULL_DECODE_ONLY"})]
    elif gpu.vendor == "amd":
        args += [F_EXECUTOR, "mp"]
        args += [F_COMPILATION_CONFIG, _json({"mode": 3, "cudagraph_mode": "FULL_DECODE_ONLY"})]
    return args


def _capacity_args(plan: Plan) -> list[str]:
    args = [
        F_MAX_MODEL_LEN,
        str(plan.max_model_len),
        F_MAX_NUM_SEQS,
        str(plan.max_num_seqs),
        F_MAX_BATCHED,
        str(plan.max_num_batched_tokens),
    ]
    if plan.kv_cache_memory_bytes is not None:
        args += [F_KV_BYTES, str(plan.kv_cache_memory_bytes)]
    else:
        args += [F_GPU_UTIL, f"{plan.gpu_memory_utilization:g}"]
    if not plan.async_scheduling:
        args.append(F_NO_ASYNC)
    return args


def _parallel_args(plan: Plan, rank: int | None, addr: Addressing) -> list[str]:
    """Parallelism and node joining (facts section 6, multi-node)."""
    args = [F_TP, str(plan.tensor_parallel)]
    if plan.pipeline_parallel > 1:
        args += [F_PP, str(plan.pipeline_parallel)]
    if plan.multi_node == "nnodes":
        args += [F_NNODES, str(plan.nodes), F_NODE_RANK, addr.node_rank]
        args += [F_MASTER_ADDR, addr.head, F_MASTER_PORT, str(MASTER_PORT)]
        if rank != 0:
            args.append(F_HEADLESS)
    if plan.data_parallel > 1:
        args += [F_DP, str(plan.data_parallel)]
        if plan.multi_node == "data-parallel":
            args += [F_DP_LOCAL, str(plan.data_parallel_local)]
            args += [F_DP_ADDRESS, addr.head, F_DP_RPC_PORT, str(DP_RPC_PORT)]
            if rank != 0:
                args += [F_HEADLESS, F_DP_START_RANK, addr.dp_start_rank]
    if plan.expert_parallel:
        args.append(F_EP)
    return args


def _model_args(plan: Plan, checkpoint: Checkpoint) -> list[str]:
    args = [F_TRUST_REMOTE_CODE, F_KV_DTYPE, KV_CACHE_DTYPE, F_BLOCK_SIZE, str(BLOCK_SIZE)]
    args += [F_TOKENIZER_MODE, V4_PARSER]
    if checkpoint.chat:
        args += [F_TOOL_PARSER, V4_PARSER, F_AUTO_TOOL, F_REASONING_PARSER, V4_PARSER]
    if plan.speculative:
        spec = speculative_config(checkpoint, plan.hardware.gpu)
        if spec is not None:
            args += [F_SPECULATIVE, spec]
    return args


def serve_argv(
    plan: Plan,
    checkpoint: Checkpoint,
    rank: int | None,
    addr: Addressing,
    host: str = "0.0.0.0",
) -> list[str]:
    """The full `vllm serve` argv for the node of this rank (None: a template for any worker).

    `host` is the address the head's API binds: all interfaces inside a container network,
    the publish address under host networking (nothing maps ports there).
    """
    argv = [*SERVE, plan.checkpoint, F_SERVED_NAME, plan.model]
    argv += _model_args(plan, checkpoint)
    argv += _parallel_args(plan, rank, addr)
    argv += _capacity_args(plan)
    argv += hardware_args(plan)
    if rank == 0:
        # Only the head serves the API; headless nodes run engine ranks only.
        argv += [F_HOST, host, F_PORT, str(SERVE_PORT)]
    return argv


def engine_ready_timeout(load_time_s: int) -> int:
    return max(ENGINE_READY_TIMEOUT_MIN_S, 2 * load_time_s)


def base_env(plan: Plan) -> dict[str, str]:
    """Environment every node sets (no secrets: those come from secret references)."""
    env = {ENV_READY_TIMEOUT: str(engine_ready_timeout(plan.load_time_s))}
    if plan.hardware.gpu.vendor == "amd":
        env[ENV_ROCM_AITER] = "1"
    return env


def node_env_names(plan: Plan) -> list[str]:
    """Per-node variables a multi-node deployment must set (values differ per machine)."""
    if plan.nodes == 1:
        return []
    names = [ENV_HOST_IP, *NETWORK_IF_ENV]
    if plan.hardware.network == "infiniband":
        names.append(ENV_NCCL_IB_HCA)
    return names


def shell_join(argv: list[str]) -> str:
    """Join argv for `sh -c`, leaving $VAR and $((...)) expansions to the shell."""
    parts = []
    for token in argv:
        if token.startswith("$"):
            parts.append(f'"{token}"' if not token.startswith("$((") else token)
        else:
            parts.append(shlex.quote(token))
    return " ".join(parts)


def role_names(plan: Plan) -> list[str]:
    return [f"node-{rank}" for rank in range(plan.nodes)]
