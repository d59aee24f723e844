"""Planning rules: which GPUs, vLLM versions and parallel layouts can serve a V4 checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

from deploy_kit.spec import Checkpoint, GpuSpec, HardwareProfile, Layout, ModelCard, Strategy

# Block-FP8 weights are quantised in 128 x 128 blocks; a tensor-parallel shard of an FP8 matrix
# must hold whole blocks (vllm issue 40955: Pro TP16 fails, 3072 / 16 = 192).
FP8_BLOCK = 128
# The smallest context deploy-kit will plan: 4K is the smallest verified upstream
# (MI325X "TP1 4K only", facts section 7). Below it a plan is useless for chat.
MIN_CONTEXT = 4096
# reasoning_effort "max" (Think Max) needs at least this --max-model-len (recipes).
THINK_MAX_CONTEXT = 393216
# SM120 (RTX PRO 6000) support landed in vLLM 0.24 (facts section 6).
SM120_MIN_VLLM = "0.24.0"


@dataclass(frozen=True)
class Violation:
    """A broken rule: id and one line."""

    rule: str
    reason: str


def version_tuple(text: str) -> tuple[int, ...]:
    """'0.33.0' -> (0, 33, 0); raises ValueError on anything else."""
    parts = text.strip().lstrip("v").split(".")
    if not parts or not all(p.isdigit() for p in parts) or len(parts) > 4:
        raise ValueError(f"not a vLLM version: {text!r} (expected e.g. 0.33.0)")
    return tuple(int(p) for p in parts)


def gpu_support(model: ModelCard, checkpoint: Checkpoint, gpu: GpuSpec) -> Violation | None:
    """Whether any upstream vLLM path serves this checkpoint on this GPU (facts sections 1, 7)."""
    if gpu.arch in ("ampere", "ada"):
        return Violation(
            "gpu-unsupported",
            f"{gpu.name} ({gpu.arch}, SM{gpu.sm}) has no upstream V4 path: vLLM's FP8 sparse MLA "
            "kernels need Hopper (SM90) or newer",
        )
    if gpu.id == "mi300x":
        return Violation("gpu-unsupported", "MI300X is unsupported for V4 upstream (recipes)")
    if gpu.id == "mi325x" and model.id == "deepseek-v4-pro":
        return Violation("gpu-unsupported", "MI325X is unsupported for V4-Pro upstream (recipes)")
    if checkpoint.requires_arch and gpu.arch not in checkpoint.requires_arch:
        return Violation(
            "checkpoint-arch",
            f"{checkpoint.hf_id} needs {' or '.join(checkpoint.requires_arch)} GPUs "
            f"(NVFP4 kernels); {gpu.name} is {gpu.arch}",
        )
    if checkpoint.weights.rest == "fp8-block" and not gpu.fp8:
        return Violation("no-fp8", f"{gpu.name} has no FP8 support; V4's weights are FP8")
    return None


def min_vllm(checkpoint: Checkpoint, gpu: GpuSpec) -> str:
    """Oldest vLLM that serves this checkpoint on this GPU."""
    floor = checkpoint.min_vllm
    if gpu.vendor == "amd" and checkpoint.min_vllm_rocm:
        floor = checkpoint.min_vllm_rocm
    if gpu.sm == "120" and version_tuple(floor) < version_tuple(SM120_MIN_VLLM):
        floor = SM120_MIN_VLLM
    return floor


def layout_violations(
    model: ModelCard, experts_format: str, layout: Layout, hw: HardwareProfile
) -> list[Violation]:
    """Every parallelism rule this layout breaks (facts section 5)."""
    a = model.arch
    tp, pp, dp = layout.tensor_parallel, layout.pipeline_parallel, layout.data_parallel
    out: list[Violation] = []
    if a.num_attention_heads % tp or a.o_groups % tp:
        out.append(
            Violation(
                "heads-divisible",
                f"TP {tp} must divide the {a.num_attention_heads} attention heads and the "
                f"{a.o_groups} output groups (valid TP: {valid_tp(model)})",
            )
        )
    shared = a.moe_intermediate_size * a.n_shared_experts
    if shared and (shared % tp or (shared // tp) % FP8_BLOCK):
        out.append(
            Violation(
                "fp8-block",
                f"FP8 128-block rule: shared-expert width {shared} / TP {tp} = {shared / tp:g} "
                f"is not a multiple of {FP8_BLOCK} (vllm issue 40955)",
            )
        )
    if experts_format == "fp8-block" and not layout.expert_parallel:
        width = a.moe_intermediate_size / (tp * dp)
        if width != int(width) or int(width) % FP8_BLOCK:
            out.append(
                Violation(
                    "fp8-block",
                    f"FP8 128-block rule: expert width {a.moe_intermediate_size} / (TP x DP = "
                    f"{tp * dp}) = {width:g} is not a multiple of {FP8_BLOCK}; "
                    "use expert parallelism",
                )
            )
    if layout.expert_parallel and a.n_routed_experts % (tp * dp):
        out.append(
            Violation(
                "experts-divisible",
                f"expert parallelism over {tp * dp} ranks does not divide the "
                f"{a.n_routed_experts} routed experts evenly",
            )
        )
    if pp > a.num_hidden_layers:
        out.append(Violation("pp-layers", f"PP {pp} exceeds the {a.num_hidden_layers} layers"))
    gpn = hw.gpus_per_node
    if layout.nodes_per_engine > 1:
        if dp > 1 and (tp * pp > gpn or gpn % (tp * pp)):
            out.append(
                Violation(
                    "dp-node-shape",
                    f"multi-node DP needs whole TP x PP groups per node: TP {tp} x PP {pp} "
                    f"does not divide {gpn} GPUs per node",
                )
            )
        if dp > 1 and pp > 1:
            out.append(Violation("dp-with-pp", "DP combined with PP across nodes is not supported"))
        if pp > 1 and tp * dp != gpn:
            out.append(
                Violation(
                    "pp-node-shape",
                    f"PP across nodes runs one stage per node: TP x DP must equal {gpn}",
                )
            )
    elif pp > 1:
        out.append(
            Violation(
                "pp-single-node",
                "PP inside one node only adds pipeline bubbles; use TP or DP within a node",
            )
        )
    return out


def valid_tp(model: ModelCard) -> str:
    a = model.arch
    sizes = [t for t in range(1, a.num_attention_heads + 1) if not a.num_attention_heads % t]
    sizes = [t for t in sizes if not a.o_groups % t]
    return ", ".join(str(t) for t in sizes)


def strategy_of(tp: int, pp: int, dp: int, ep: bool) -> Strategy:
    if pp > 1:
        return "tp-pp"
    if dp > 1:
        return "dep"
    return "tep" if ep else "tp"
