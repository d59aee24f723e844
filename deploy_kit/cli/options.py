"""Options and helpers every command shares: output flags, planner flags, flags -> Plan."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from deploy_kit.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


def emit(text: str, out: str | None, quiet: bool) -> None:
    """Print, or write atomically to --out (and say where unless --quiet)."""
    if out:
        from deploy_kit.fsutil import atomic_write_text

        atomic_write_text(Path(out), text)
        if not quiet:
            click.echo(f"wrote {out}", err=True)
        return
    click.echo(text, nl=not text.endswith("\n"))


def output_option(*choices: str, default: str = "table") -> Callable[[F], F]:
    def deco(f: F) -> F:
        f = click.option(
            "-o",
            "--output",
            type=click.Choice(list(choices)),
            default=default,
            show_default=True,
            help="Output format.",
        )(f)
        f = click.option("--out", type=click.Path(dir_okay=False), help="Write to this file.")(f)
        return click.option("--quiet", "-q", is_flag=True, help="Print nothing but results.")(f)

    return deco


def get_catalog() -> Any:
    """The catalog, imported on first use so `--help` stays cheap."""
    from deploy_kit.catalog import load_catalog

    return load_catalog()


# The workload and SLA a plan is judged by (plan, render, up and capacity's SLA columns).
WORKLOAD_OPTIONS = [
    click.option("--isl", help="Workload: input tokens per request (4000, 4k, 8K)."),
    click.option("--osl", help="Workload: output tokens per request."),
    click.option(
        "--workload",
        "workload_file",
        type=click.Path(dir_okay=False),
        help="Workload mix: YAML list of {isl, osl, weight}.",
    ),
    click.option("--ttft", "ttft_ms", help="SLA: time to first token (2s, 500ms)."),
    click.option("--tpot", "tpot_ms", help="SLA: time per output token (50ms)."),
    click.option(
        "--percentile",
        type=click.Choice(["p50", "p90"]),
        help="Percentile the SLA applies to (default p50).",
    ),
    click.option("--request-rate", type=float, help="Workload: requests per second (open loop)."),
]
WORKLOAD_KEYS = ("isl", "osl", "workload", "ttft_ms", "tpot_ms", "percentile", "request_rate")


def workload_options(f: F) -> F:
    for opt in reversed(WORKLOAD_OPTIONS):
        f = opt(f)
    return f


def plan_options(f: F) -> F:
    opts = [
        click.option("--model", "-m", help="Model or checkpoint (default deepseek-v4-flash)."),
        click.option(
            "--hardware", "-H", "hardware_", help="Preset (8xH200, 2x8xH100) or YAML file."
        ),
        click.option(
            "-f",
            "--file",
            "deploy_file",
            type=click.Path(dir_okay=False),
            help="Deployment file (model, hardware, knobs).",
        ),
        click.option(
            "--weights",
            type=click.Choice(["native", "fp4", "nvfp4", "fp8", "bf16", "fp16", "int8", "int4"]),
            help="Weight precision (what-ifs are labelled).",
        ),
        click.option(
            "--context", help="max_model_len: 131072, 128K, 1M (K/M binary, k/m decimal)."
        ),
        click.option("--concurrency", type=int, help="Target concurrent requests."),
        click.option(
            "--optimize",
            type=click.Choice(["capacity", "latency", "throughput", "goodput", "cost"]),
            help="Objective (default: goodput per GPU when an SLA is given, else capacity).",
        ),
        *WORKLOAD_OPTIONS,
        click.option("--strategy", type=click.Choice(["tp", "tep", "dep", "tp-pp"])),
        click.option("--tp", type=int, help="Pin tensor parallel size."),
        click.option("--pp", type=int, help="Pin pipeline parallel size."),
        click.option("--dp", type=int, help="Pin data parallel size."),
        click.option("--ep/--no-ep", default=None, help="Pin expert parallelism."),
        click.option("--gpu-memory-utilization", type=float),
        click.option("--kv-cache-memory-bytes", help="KV cache per GPU (bytes or 28GiB)."),
        click.option("--max-num-seqs", type=int),
        click.option("--max-num-batched-tokens"),
        click.option("--async-scheduling/--no-async-scheduling", default=None),
        click.option(
            "--speculative/--no-speculative",
            default=None,
            help="Enable the checkpoint's MTP/DSpark draft.",
        ),
        click.option("--vllm-version"),
        click.option("--image", help="Container image override (must be pinned)."),
        click.option(
            "--cluster",
            is_flag=True,
            help="Plan on the GPU node pools of the current cluster (kubeconfig).",
        ),
        click.option("--kubeconfig", type=click.Path(dir_okay=False), help="With --cluster."),
        click.option("--kube-context", help="With --cluster: kubeconfig context."),
        click.option(
            "--nodes-json",
            type=click.Path(dir_okay=False),
            help="Plan on the pools of a `kubectl get nodes -o json` file.",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


KNOB_KEYS = (
    "weights",
    "context",
    "concurrency",
    "optimize",
    "strategy",
    "tp",
    "pp",
    "dp",
    "ep",
    "gpu_memory_utilization",
    "kv_cache_memory_bytes",
    "max_num_seqs",
    "max_num_batched_tokens",
    "async_scheduling",
    "speculative",
    "vllm_version",
    "image",
    *WORKLOAD_KEYS,
)


def load_workload(path: str) -> list[Any]:
    """A workload file: a YAML list of request shapes, or a mapping with a `workload` list."""
    from deploy_kit.yamlio import load_yaml_file

    data = load_yaml_file(Path(path), what="workload file")
    if isinstance(data, dict) and "workload" in data:
        data = data["workload"]
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: expected a list of request shapes, each with isl and osl")
    return data


def knob_values(kw: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The knob values among the command's options (None = not given); --workload is read."""
    values = {k: kw.get(k) for k in keys}
    if kw.get("workload_file"):
        values["workload"] = load_workload(kw["workload_file"])
    return values


def make_plan(kw: dict[str, Any]) -> Any:
    """Shared by plan, render and up: flags and/or a deployment file -> Plan."""
    from deploy_kit.cli import inputs
    from deploy_kit.planner import search as planner

    catalog = get_catalog()
    model = kw.get("model")
    hardware_ = kw.get("hardware_")
    base = None
    if kw.get("deploy_file"):
        f_model, hw, base = inputs.load_deployment(Path(kw["deploy_file"]), catalog)
        model = model or f_model
        if hardware_:
            hw = catalog.hardware(hardware_)
    else:
        hw = catalog.hardware(hardware_ or inputs.DEFAULT_HARDWARE)
    knobs = inputs.build_knobs(knob_values(kw, KNOB_KEYS), base)
    model = model or inputs.DEFAULT_MODEL
    if kw.get("cluster") or kw.get("nodes_json"):
        return _plan_on_cluster(catalog, model, knobs, kw)
    return planner.plan(catalog, model, hw, knobs)


def _plan_on_cluster(catalog: Any, model: str, knobs: Any, kw: dict[str, Any]) -> Any:
    """Discover the node pools, choose the one that serves best, plan on it and say why."""
    from deploy_kit.cli.cluster import discover_pools
    from deploy_kit.planner import pools as discovery
    from deploy_kit.planner import search as planner

    if kw.get("hardware_") or kw.get("deploy_file"):
        raise InputError("--cluster/--nodes-json choose the hardware: drop --hardware and -f")
    nodes_json = kw.get("nodes_json")
    found, origin = discover_pools(
        catalog,
        kubeconfig=kw.get("kubeconfig"),
        context=kw.get("kube_context"),
        from_file=Path(nodes_json) if nodes_json else None,
    )
    hw, reason, rejected = discovery.choose_pool(found.profiles, model, knobs, catalog)
    p = planner.plan(catalog, model, hw, knobs)
    why = [f"{reason} (node pools from {origin})"]
    why += [r.reason for r in rejected]
    return p.model_copy(update={"rationale": [*why, *p.rationale]})
