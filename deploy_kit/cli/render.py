"""`deploy-kit render`: plan, then write a bundle for one target or all, or a whole matrix."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from deploy_kit.cli.options import KNOB_KEYS, make_plan, plan_options

# `--matrix` without --model renders both V4 models, without --hardware every catalog preset.
MATRIX_MODELS = ("deepseek-v4-flash", "deepseek-v4-pro")
_OPTION_KEYS = (
    "name",
    "namespace",
    "model_cache",
    "storage_class",
    "api_key",
    "bake_weights",
    "revision",
    "autoscaling",
    "monitoring",
    "smoke_job",
)
# Options that choose the hardware or the plan from elsewhere: one bundle only.
_SINGLE_ONLY = {
    "deploy_file": "-f/--file",
    "cluster": "--cluster",
    "nodes_json": "--nodes-json",
    "kubeconfig": "--kubeconfig",
    "kube_context": "--kube-context",
}


@click.command()
@plan_options
@click.option(
    "--target",
    "-t",
    type=click.Choice(["docker", "compose", "kubernetes", "helm", "all"]),
    help="What to render (required; with --matrix default all).",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bundle directory.")
@click.option(
    "--matrix",
    is_flag=True,
    help="Render every --model x --hardware that plans (default: both V4 models x every "
    "preset) into OUT/<model>/<hardware>/ in one run; pairs that do not fit are skipped.",
)
@click.option("--force", is_flag=True, help="Overwrite edited files (keeps a .bak of each).")
@click.option("--name", help="Application name (default: the model id).")
@click.option("--namespace", help="Kubernetes namespace.")
@click.option("--model-cache", type=click.Choice(["pvc", "hostPath", "emptyDir"]))
@click.option("--storage-class", help="StorageClass for the model cache PVC.")
@click.option(
    "--api-key/--no-api-key",
    default=None,
    help="Require an API key (default on); --no-api-key is warned about.",
)
@click.option("--bake-weights", is_flag=True, default=None, help="Dockerfile stage with weights.")
@click.option("--revision", help="Hugging Face revision to pin.")
@click.option("--autoscaling", type=click.Choice(["none", "hpa", "keda"]))
@click.option("--monitoring", type=click.Choice(["none", "servicemonitor", "podmonitor"]))
@click.option(
    "--smoke-job", is_flag=True, default=None, help="Kubernetes: a Job that runs deploy-kit smoke."
)
@click.option("--quiet", "-q", is_flag=True)
def render(
    target: str | None,
    out: str,
    matrix: bool,
    force: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Render Dockerfile, compose, Kubernetes and/or Helm values from one plan."""
    from deploy_kit.renderer import render_bundle
    from deploy_kit.renderer.bundle import check_manifest

    models: tuple[str, ...] = kw.pop("model")
    hardware: tuple[str, ...] = kw.pop("hardware_")
    options = _options(kw)
    if matrix:
        _render_matrix(models, hardware, target or "all", Path(out), force, quiet, options, kw)
        return
    if target is None:
        ctx = click.get_current_context()
        param = next(p for p in ctx.command.params if p.name == "target")
        raise click.MissingParameter(ctx=ctx, param=param)
    for flag, given in (("--model", models), ("--hardware", hardware)):
        if len(given) > 1:
            raise click.UsageError(f"{flag} given {len(given)} times: add --matrix to render each")
    kw["model"] = models[0] if models else None
    kw["hardware_"] = hardware[0] if hardware else None
    check_manifest(Path(out))  # a hostile manifest is refused before planning
    plan = make_plan(kw)
    report = render_bundle(plan, target, out, force=force, options=options)
    _warn_api_key(options)  # even with --quiet: turning the key off is always said
    if quiet:
        return
    click.echo(
        f"{plan.one_line()}\nwrote {len(report.written)} file(s), {len(report.unchanged)} "
        f"unchanged, {len(report.removed)} removed in {report.out}",
        err=True,
    )
    for bak in report.backups:
        click.echo(f"kept your edited version as {bak}", err=True)
    for kept in report.kept_edited:
        click.echo(f"kept {kept}: no longer generated but edited by you", err=True)


# `plan` takes one --model and one --hardware; render takes several of each with --matrix.
_REPEATABLE: dict[str | None, click.Parameter] = {
    "model": click.Option(
        ["--model", "-m"],
        multiple=True,
        help="Model or checkpoint (default deepseek-v4-flash); repeatable with --matrix.",
    ),
    "hardware_": click.Option(
        ["--hardware", "-H", "hardware_"],
        multiple=True,
        help="Preset (8xH200, 2x8xH100) or YAML file; repeatable with --matrix.",
    ),
}
render.params = [_REPEATABLE.get(p.name, p) for p in render.params]


def _options(kw: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from deploy_kit.errors import InputError
    from deploy_kit.renderer import RenderOptions
    from deploy_kit.yamlio import validation_message

    opts = {k: kw.pop(k) for k in _OPTION_KEYS if kw.get(k) is not None}
    for k in _OPTION_KEYS:
        kw.pop(k, None)
    try:
        return RenderOptions.model_validate(opts)
    except ValidationError as exc:
        raise InputError(validation_message(exc, origin="render options")) from None


def _warn_api_key(options: Any) -> None:
    if not options.api_key:
        click.echo(
            "warning: --no-api-key: the API accepts requests from anyone who reaches it", err=True
        )


# --- the matrix -----------------------------------------------------------------------------


@dataclass
class _Matrix:
    """What one `render --matrix` run did."""

    rendered: list[tuple[str, str]] = field(default_factory=list)  # (bundle dir, plan line)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (model/hardware, reason)
    failed: list[tuple[str, Any]] = field(default_factory=list)  # (model/hardware, error)
    files: dict[str, int] = field(
        default_factory=lambda: {"written": 0, "unchanged": 0, "removed": 0}
    )


def _render_matrix(
    models: tuple[str, ...],
    hardware: tuple[str, ...],
    target: str,
    out: Path,
    force: bool,
    quiet: bool,
    options: Any,
    kw: dict[str, Any],
) -> None:
    """Every model x hardware in one process: plan each (a pair that does not fit is skipped
    with the planner's reason), render and write it to OUT/<model>/<hardware>/."""
    from deploy_kit.catalog import load_catalog
    from deploy_kit.cli import inputs
    from deploy_kit.errors import DeployKitError, PinnedKnobError, PlanError
    from deploy_kit.planner import search as planner
    from deploy_kit.renderer import render_bundle
    from deploy_kit.renderer.bundle import batch

    given = [flag for key, flag in _SINGLE_ONLY.items() if kw.get(key)]
    if given:
        raise click.UsageError(f"--matrix takes --model/--hardware, not {', '.join(given)}")
    start = time.perf_counter()
    catalog = load_catalog()
    checkpoints = list(dict.fromkeys(catalog.checkpoint(m).id for m in models or MATRIX_MODELS))
    profiles = [catalog.hardware(h) for h in hardware] or list(catalog.presets.values())
    profiles = list({_dir_name(p.name): p for p in profiles}.values())
    knobs = inputs.build_knobs({k: kw.get(k) for k in KNOB_KEYS})
    result = _Matrix()
    with batch():
        for model in checkpoints:
            for hw in profiles:
                pair = f"{model}/{_dir_name(hw.name)}"
                try:
                    # The hint (the smallest hardware that fits) costs dozens of plans: a matrix
                    # lists the reason only.
                    plan = planner.plan(catalog, model, hw, knobs, suggest=False)
                except (PlanError, PinnedKnobError) as exc:
                    result.skipped.append((pair, exc.message))
                    continue
                try:
                    report = render_bundle(plan, target, out / pair, force=force, options=options)
                except DeployKitError as exc:
                    result.failed.append((pair, exc))
                    continue
                result.rendered.append((str(report.out), plan.one_line()))
                result.files["written"] += len(report.written)
                result.files["unchanged"] += len(report.unchanged)
                result.files["removed"] += len(report.removed)
    seconds = time.perf_counter() - start
    _warn_api_key(options)
    if not quiet:
        click.echo(_summary(result, target, out, seconds, len(checkpoints) * len(profiles)))
    for pair, error in result.failed:
        click.echo(f"error: {pair}: {error.message}", err=True)
        if error.hint:
            click.echo(f"hint: {error.hint}", err=True)
    _exit_code(result)


def _dir_name(name: str) -> str:
    """A hardware name as one path component (presets already are; files' names may not be)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "hardware"


def _summary(result: _Matrix, target: str, out: Path, seconds: float, pairs: int) -> str:
    n = len(result.rendered)
    rate = f", {n / seconds:.1f} bundles/s" if n and seconds > 0 else ""
    lines = [
        f"rendered {n} of {pairs} model x hardware pair(s) (--target {target}) into {out} "
        f"in {seconds:.2f} s{rate}"
    ]
    lines += [f"  {path}  {line}" for path, line in result.rendered]
    if result.skipped:
        lines.append(f"skipped {len(result.skipped)} that do not fit:")
        lines += [f"  {pair}: {reason}" for pair, reason in result.skipped]
    if result.failed:
        lines.append(f"failed {len(result.failed)} (see the errors)")
    f = result.files
    lines.append(
        f"files: {f['written']} written, {f['unchanged']} unchanged, {f['removed']} removed"
    )
    return "\n".join(lines)


def _exit_code(result: _Matrix) -> None:
    """0 when every pair that plans was written (at least one); a failure's own exit code
    otherwise; 3 when nothing fits at all."""
    from deploy_kit.errors import PlanError

    if result.failed:
        raise click.exceptions.Exit(int(result.failed[0][1].exit_code))
    if not result.rendered:
        raise PlanError(
            "no model x hardware pair of the matrix plans",
            hint="add hardware with --hardware, or relax the pinned knobs",
        )
