"""Domain rules that need the served model: layout vs architecture, load time, context limits."""

from __future__ import annotations

from deploy_kit.planner import memory, perf, rules
from deploy_kit.planner.candidates import DEFAULT_UTILIZATION, vllm_batch_defaults
from deploy_kit.spec import HardwareProfile, Layout, parse_tokens
from deploy_kit.validate.findings import Finding, Severity
from deploy_kit.validate.invocations.base import Where, symbolic
from deploy_kit.validate.rules.facts import Facts, finding
from deploy_kit.vllm import argv as vllm
from deploy_kit.vllm.flags import load_flags

GIB = memory.GIB
# vLLM's default when VLLM_ENGINE_READY_TIMEOUT_S is unset (facts section 6).
DEFAULT_READY_TIMEOUT_S = 600
_ARCH_RULES = {
    "heads-divisible": ("DK104", vllm.F_TP),
    "experts-divisible": ("DK104", vllm.F_EP),
    "pp-layers": ("DK104", vllm.F_PP),
    "fp8-block": ("DK105", vllm.F_TP),
}


def check(f: Facts) -> list[Finding]:
    """DK104, DK105, DK107, DK108, DK109, DK110 for one vLLM call."""
    if f.card is None or f.checkpoint is None:
        return legacy_rules(f) if f.legacy is not None else []
    out = layout_rules(f)
    load = load_time_s(f)
    if load is not None:
        out += probe_rule(f, load)
        out += ready_timeout_rule(f, load)
    out += max_len_rule(f)
    if f.ctx.hardware is not None:
        out += kv_fit_rule(f, f.ctx.hardware)
    return out


def weights_per_gpu(f: Facts) -> float | None:
    """Weight bytes resident on one GPU of this call's layout (memory.py's estimate)."""
    found = _weight_bytes(f)
    if found is None or None in (f.tp, f.pp, f.dp):
        return None
    weights, layers = found
    return memory.weights_per_gpu(weights, layers, f.tp or 1, f.pp or 1, f.dp or 1)


def _weight_bytes(f: Facts) -> tuple[memory.WeightBytes, int] | None:
    """The served checkpoint's bytes by tensor group, and its layer count."""
    ckpt, card, catalog = f.checkpoint, f.card, f.ctx.catalog
    if ckpt is not None and card is not None:
        reference = catalog.checkpoints.get(card.id, ckpt)
        weights = memory.checkpoint_weight_bytes(ckpt, card, catalog.formats, reference)
        return weights, card.arch.num_hidden_layers
    legacy = f.legacy
    if legacy is None:
        return None
    # params x bytes per parameter of the stored format (an estimate: see models.yaml).
    routed = legacy.arch.routed_expert_params
    rest = max(legacy.params_total_b * 1e9 - routed, 0.0)
    formats = catalog.formats
    return (
        memory.WeightBytes(
            experts=routed * formats[legacy.weights.experts],
            rest=rest * formats[legacy.weights.rest],
        ),
        legacy.arch.num_hidden_layers,
    )


def legacy_rules(f: Facts) -> list[Finding]:
    """What the catalog knows of an earlier DeepSeek (V3, R1, V3.1, V3.2): TP vs the attention
    heads and PP vs the layers (vLLM's ModelConfig.verify_with_parallel_config refuses both),
    weights vs GPU memory (with --hardware), estimated load time vs the probe, context limit."""
    legacy = f.legacy
    if legacy is None:
        return []
    out: list[Finding] = []
    heads, layers = legacy.arch.num_attention_heads, legacy.arch.num_hidden_layers
    if f.tp and heads % f.tp:
        out.append(
            finding(
                "DK104",
                f.call.where_of(vllm.F_TP),
                f"{legacy.name}: TP {f.tp} does not divide its {heads} attention heads",
            )
        )
    if f.pp and f.pp > layers:
        out.append(
            finding(
                "DK104",
                f.call.where_of(vllm.F_PP),
                f"{legacy.name}: PP {f.pp} exceeds its {layers} layers",
            )
        )
    if any(size is not None and size < 1 for size in (f.tp, f.pp, f.dp)):
        return out + max_len_rule(f)  # a size below 1 is DK100's; no layout to weigh
    load = load_time_s(f)
    if load is not None:
        # Only the probe that kills the container; VLLM_ENGINE_READY_TIMEOUT_S is judged for V4
        # alone, where load times were reported (facts section 6).
        out += probe_rule(f, load)
    out += max_len_rule(f)
    if f.ctx.hardware is not None:
        out += _legacy_weights_rule(f, f.ctx.hardware)
    return out


def _legacy_weights_rule(f: Facts, hw: HardwareProfile) -> list[Finding]:
    """DK110 for a legacy model: its weights alone exceed the memory vLLM may use per GPU (the
    KV layout is not in the catalog, so the context fit is not judged: no guess)."""
    per_gpu = weights_per_gpu(f)
    util = _float(f.raw(vllm.F_GPU_UTIL), _default_util(f))
    if per_gpu is None or util is None:
        return []
    allowed = hw.gpu.usable_bytes * util
    if per_gpu <= allowed:
        return []
    return [
        finding(
            "DK110",
            f.call.where_of(vllm.F_TP),
            f"on {hw.name}: weights {per_gpu / GIB:.1f} GiB per GPU exceed the "
            f"{allowed / GIB:.1f} GiB vLLM may use ({f.layout_text()}; estimate)",
        )
    ]


def load_time_s(f: Facts) -> int | None:
    """Estimated seconds from start to ready: this node's weights read + fixed start-up."""
    per_gpu = weights_per_gpu(f)
    ranks = f.ranks_per_node
    if per_gpu is None or ranks is None:
        return None
    return perf.load_time_s(per_gpu * ranks)


def layout_rules(f: Facts) -> list[Finding]:
    """DK104/DK105 through rules.layout_violations (TP vs heads, FP8 blocks, experts, layers)."""
    card, ckpt = f.card, f.checkpoint
    if card is None or ckpt is None or None in (f.tp, f.pp, f.dp) or not f.tp:
        return []
    layout = Layout(
        strategy=rules.strategy_of(f.tp, f.pp or 1, f.dp or 1, f.ep),
        tensor_parallel=f.tp,
        pipeline_parallel=f.pp or 1,
        data_parallel=f.dp or 1,
        expert_parallel=f.ep,
        nodes_per_engine=1,  # the multi-node shape rules need a hardware profile: not ours
        replicas=1,
    )
    hw = _any_hardware(f)
    if hw is None:
        return []
    out = []
    for v in rules.layout_violations(card, ckpt.weights.experts, layout, hw):
        mapped = _ARCH_RULES.get(v.rule)
        if mapped is None:
            continue
        rule_id, flag = mapped
        out.append(finding(rule_id, f.call.where_of(flag), f"{card.name}: {v.reason}"))
    return out


def _any_hardware(f: Facts) -> HardwareProfile | None:
    if f.ctx.hardware is not None:
        return f.ctx.hardware
    gpus = list(f.ctx.catalog.gpus.values())
    if not gpus:
        return None
    return HardwareProfile(name="lint", gpu=gpus[0], gpus_per_node=1)


def probe_rule(f: Facts, load: int) -> list[Finding]:
    """DK107: the probe that can kill (startup, else liveness) waits for the estimated load."""
    c = f.container
    probes = {p.kind: p for p in c.probes}
    probe = probes.get("startup") or probes.get("liveness") or probes.get("healthcheck")
    if probe is None or probe.budget_s >= load:
        return []
    acts = "restarts the container" if probe.kills else "marks it unhealthy"
    return [
        finding(
            "DK107",
            probe.where,
            f"{c.label}: the {probe.kind} probe {acts} after {probe.budget_s:g} s, before the "
            f"estimated load time of {load} s ({_load_note(f)})",
            severity="error" if probe.kills else "warning",
            hint=None
            if probe.kills
            else "raise start_period (or --start-period) above the estimated load time",
        )
    ]


def api_server_count(f: Facts) -> int | None:
    """How many API server processes `vllm serve` starts, as vLLM 0.33 decides it
    (entrypoints/cli/serve.py, ServeSubcommand.cmd): --api-server-count when given; else 0
    headless, 1 for external or multi-port load balancing, the local DP size for hybrid load
    balancing (--data-parallel-hybrid-lb, or --data-parallel-start-rank alone), the DP size
    otherwise. None when a value it depends on is left to the shell."""
    if f.headless:
        return 0
    if f.given(vllm.F_API_SERVERS):
        return f.int_flag(vllm.F_API_SERVERS, None)
    multi_port = f.call.parsed.switch(vllm.F_DP_MULTI_PORT_LB) is True
    external = f.call.parsed.switch(vllm.F_DP_EXTERNAL_LB) is True or f.given(vllm.F_DP_RANK)
    if multi_port or external:
        return 1
    if f.hybrid_lb or f.given(vllm.F_DP_START_RANK):
        return None if f.dp_local is None else f.dp_local or 1
    return f.dp


def ready_timeout_bounds_load(f: Facts) -> bool | None:
    """Whether VLLM_ENGINE_READY_TIMEOUT_S bounds the engines' load, per vLLM 0.33's source.
    A single Python API server starts the engines itself and waits for them with no deadline
    (v1/engine/utils.py, wait_for_engine_startup). API servers started beside the engines (more
    than one, the multi-port supervisor's, or the Rust frontend) wait for each engine's first
    message on the input socket for that long (v1/engine/core_client.py, MPClient.__init__):
    every timeout report upstream comes from such a process (ApiServer_N in vllm issues 27444,
    32116 and 35547). None when the count is left to the shell."""
    if f.call.parsed.switch(vllm.F_DP_MULTI_PORT_LB) is True:
        return True
    for name in vllm.ENV_RUST_FRONTEND:
        is_set, value = f.container.env_value(name)
        if is_set and (value is None or symbolic(value) or value.strip() not in ("", "0")):
            return True
    count = api_server_count(f)
    return None if count is None else count > 1


def ready_timeout_rule(f: Facts, load: int) -> list[Finding]:
    """DK108: the API servers wait for the engines at least as long as they take to load."""
    c = f.container
    if f.headless:
        return []
    is_set, value = c.env_value(vllm.ENV_READY_TIMEOUT)
    name = vllm.ENV_READY_TIMEOUT
    timeout: int | None = None
    if is_set and value is not None and not symbolic(value):
        try:
            timeout = int(value)  # vLLM reads it with int(): "600.0" stops the server
        except ValueError:
            message = f"{c.label}: {name}={value!r} is not a whole number of seconds"
            return [finding("DK108", _env_where(f), message)]
    bounded = ready_timeout_bounds_load(f)
    if bounded is False:
        return []  # one API server owns the engines and waits for them without a deadline
    # Unknown API server count: the timeout may not apply, so never more than a warning.
    severity: Severity = "error" if bounded else "warning"
    because = "" if bounded else " if it starts more than one API server"
    if is_set:
        if timeout is None or timeout >= load:
            return []
        return [
            finding(
                "DK108",
                _env_where(f),
                f"{c.label}: {name}={value} is shorter than the estimated load time of "
                f"{load} s ({_load_note(f)}){because}",
                severity=severity,
            )
        ]
    if not c.env_complete:
        return []  # envFrom or an unread env file may set it
    where = f.start
    servers = _api_servers_note(f)
    if load > DEFAULT_READY_TIMEOUT_S:
        return [
            finding(
                "DK108",
                where,
                f"{c.label}: {name} is unset, so {servers} give up after "
                f"{DEFAULT_READY_TIMEOUT_S} s; estimated load time {load} s "
                f"({_load_note(f)}){because}",
                severity=severity,
            )
        ]
    if 2 * load > DEFAULT_READY_TIMEOUT_S:
        return [
            finding(
                "DK108",
                where,
                f"{c.label}: {name} is unset ({servers} wait "
                f"{DEFAULT_READY_TIMEOUT_S} s); the estimated load time of {load} s "
                "leaves little margin for a cold cache or slow disk",
                severity="warning",
            )
        ]
    return []


def _api_servers_note(f: Facts) -> str:
    count = api_server_count(f)
    return f"its {count} API servers" if count and count > 1 else "the API servers"


def _async_flag(f: Facts) -> str:
    table = load_flags(f.call.parsed.vllm_version)
    return next((n for n, s in table.flags.items() if s.negation == vllm.F_NO_ASYNC), "")


def _env_where(f: Facts) -> Where:
    for var in reversed(f.container.env):
        if var.name == vllm.ENV_READY_TIMEOUT:
            return var.where
    return f.container.where


def _context_limit(f: Facts) -> tuple[str, int] | None:
    """The served model's name and max_position_embeddings, when the catalog knows it."""
    if f.card is not None:
        return f.card.name, f.card.arch.max_position_embeddings
    if f.legacy is not None:
        return f.legacy.name, f.legacy.arch.max_position_embeddings
    return None


def max_model_len(f: Facts) -> int | None:
    """The max model length as a number (the model's limit when absent; None when symbolic)."""
    raw = f.raw(vllm.F_MAX_MODEL_LEN)
    if raw is None:
        limit = _context_limit(f)
        return limit[1] if limit else None
    if symbolic(raw) or raw.strip() in ("-1", "auto"):
        return None
    try:
        return parse_tokens(raw)
    except ValueError:
        return None  # DK100 reports the bad value


def max_len_rule(f: Facts) -> list[Finding]:
    """DK109: the max model length within max_position_embeddings."""
    known = _context_limit(f)
    length = max_model_len(f)
    if known is None or length is None:
        return []
    name, limit = known
    if length <= limit:
        return []
    return [
        finding(
            "DK109",
            f.call.where_of(vllm.F_MAX_MODEL_LEN),
            f"{vllm.F_MAX_MODEL_LEN} {length} exceeds {name}'s limit of {limit} tokens "
            "(max_position_embeddings)",
        )
    ]


def kv_fit_rule(f: Facts, hw: HardwareProfile) -> list[Finding]:
    """DK110: one request of max_model_len fits the KV memory left on these GPUs."""
    card = f.card
    per_gpu = weights_per_gpu(f)
    length = max_model_len(f)
    if card is None or per_gpu is None or length is None or None in (f.tp, f.pp, f.dp):
        return []
    tp, pp, dp = f.tp or 1, f.pp or 1, f.dp or 1
    util = _float(f.raw(vllm.F_GPU_UTIL), _default_util(f))
    kv_bytes = _bytes(f.raw(vllm.F_KV_BYTES))
    mnbt = _tokens(f.raw(vllm.F_MAX_BATCHED), vllm_batch_defaults(hw)[1])
    if util is None or mnbt is None:
        return []
    async_on = f.call.parsed.switch(_async_flag(f)) is not False and pp == 1
    budget = memory.budget(
        hw.gpu.usable_bytes,
        util,
        per_gpu,
        mnbt,
        card.arch.hidden_size,
        tp,
        f.ep,
        tp * pp * dp,
        kv_bytes,
    )
    where = f.call.where_of(vllm.F_MAX_MODEL_LEN)
    if budget.kv <= 0:
        return [
            finding(
                "DK110",
                f.call.where_of(vllm.F_TP),
                f"on {hw.name}: weights {per_gpu / GIB:.1f} GiB per GPU plus runtime "
                f"exceed the {budget.requested / GIB:.1f} GiB vLLM may use "
                f"({f.layout_text()}; estimate)",
            )
        ]
    layers = card.arch.num_hidden_layers
    stage = memory.pp_max_stage_layers(layers, pp) / layers
    cap = memory.kv_capacity(
        f.ctx.catalog.layout_of(card),
        budget.kv,
        length,
        mnbt,
        async_on,
        card.arch.max_position_embeddings,
        stage_fraction=stage,
    )
    if cap.fits:
        return []
    return [
        finding(
            "DK110",
            where,
            f"on {hw.name}: one {length}-token request needs {cap.blocks_per_request} KV "
            f"blocks but {budget.kv / GIB:.1f} GiB per GPU hold {cap.num_blocks}; the "
            f"longest context that fits is about {cap.max_model_len_fit} (estimate)",
        )
    ]


def _default_util(f: Facts) -> float:
    spec = load_flags(f.call.parsed.vllm_version).flags.get(vllm.F_GPU_UTIL)
    try:
        return float(spec.default) if spec and spec.default else DEFAULT_UTILIZATION
    except ValueError:
        return DEFAULT_UTILIZATION


def _float(raw: str | None, default: float) -> float | None:
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        return None


def _tokens(raw: str | None, default: int) -> int | None:
    if raw is None:
        return default
    try:
        return parse_tokens(raw)
    except ValueError:
        return None


def _bytes(raw: str | None) -> int | None:
    if raw is None or symbolic(raw):
        return None
    try:
        return parse_tokens(raw)
    except ValueError:
        return None


def _load_note(f: Facts) -> str:
    per_gpu = weights_per_gpu(f) or 0.0
    ranks = f.ranks_per_node or 1
    return (
        f"estimate: {per_gpu * ranks / GIB:.0f} GiB of weights on this node at "
        f"{perf.LOAD_GBPS_PER_NODE:g} GB/s + {perf.STARTUP_FIXED_S} s start-up"
    )
