"""`deploy-kit render`: plan, then write a bundle for one target or all."""

from __future__ import annotations

from typing import Any

import click

from deploy_kit.cli import make_plan, plan_options


@click.command()
@plan_options
@click.option(
    "--target",
    "-t",
    required=True,
    type=click.Choice(["docker", "compose", "kubernetes", "helm", "all"]),
    help="What to render.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bundle directory.")
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
@click.option("--quiet", "-q", is_flag=True)
def render(target: str, out: str, force: bool, quiet: bool, **kw: Any) -> None:
    """Render Dockerfile, compose, Kubernetes and/or Helm values from one plan."""
    from pydantic import ValidationError

    from deploy_kit.errors import InputError
    from deploy_kit.render import RenderOptions, render_bundle
    from deploy_kit.yamlio import validation_message

    option_keys = (
        "name",
        "namespace",
        "model_cache",
        "storage_class",
        "api_key",
        "bake_weights",
        "revision",
        "autoscaling",
        "monitoring",
    )
    opts = {k: kw.pop(k) for k in option_keys if kw.get(k) is not None}
    for k in option_keys:
        kw.pop(k, None)
    try:
        options = RenderOptions.model_validate(opts)
    except ValidationError as exc:
        raise InputError(validation_message(exc, origin="render options")) from None
    plan = make_plan(kw)
    report = render_bundle(plan, target, out, force=force, options=options)
    if quiet:
        return
    if not options.api_key:
        click.echo(
            "warning: --no-api-key: the API accepts requests from anyone who reaches it", err=True
        )
    click.echo(
        f"{plan.one_line()}\nwrote {len(report.written)} file(s), {len(report.unchanged)} "
        f"unchanged, {len(report.removed)} removed in {report.out}",
        err=True,
    )
    for bak in report.backups:
        click.echo(f"kept your edited version as {bak}", err=True)
    for kept in report.kept_edited:
        click.echo(f"kept {kept}: no longer generated but edited by you", err=True)
