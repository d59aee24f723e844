"""`deploy-kit lint`: validate rendered or hand-written deployment files; text, JSON or SARIF."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from deploy_kit.errors import InputError
from deploy_kit.validate.structural.validators import DEFAULT_K8S_VERSION
from deploy_kit.vllm.flags import DEFAULT_VLLM_VERSION


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the report to this file.")
@click.option(
    "--crd",
    "crds",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CRD file for custom resources (repeatable; kubectl get crd NAME -o yaml).",
)
@click.option("--hardware", "-H", "hardware", help="Preset or YAML: also check the KV fit.")
@click.option(
    "--k8s-version",
    default=DEFAULT_K8S_VERSION,
    show_default=True,
    help="Kubernetes version whose schemas manifests are checked against.",
)
@click.option(
    "--vllm-version",
    default=DEFAULT_VLLM_VERSION,
    show_default=True,
    help="vLLM release the files run where their image tag names none (X.Y.Z). Flags and env "
    "vars it accepts that later releases removed are warnings; the rest is checked against "
    "the pinned release's flag table.",
)
@click.option("--strict", is_flag=True, help="Warnings fail the lint too.")
@click.option("--verbose", "-v", is_flag=True, help="List linted and skipped files, tool runs.")
@click.option(
    "--no-tools",
    is_flag=True,
    help="Skip the external tools (yamllint, kubernetes-validate, compose, hadolint, helm).",
)
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr when writing --out.")
def lint(
    paths: tuple[Path, ...],
    output: str,
    out: str | None,
    crds: tuple[Path, ...],
    hardware: str | None,
    k8s_version: str,
    vllm_version: str,
    strict: bool,
    verbose: bool,
    no_tools: bool,
    quiet: bool,
) -> None:
    """Check Dockerfiles, compose files, Kubernetes manifests, kustomize directories, Helm
    values and rendered bundles. Exit 0 clean, 1 errors, 2 bad usage, 4 a tool is missing."""
    from deploy_kit.validate import report as rep
    from deploy_kit.validate.lint import lint_paths

    result = lint_paths(
        paths,
        crds=crds,
        hardware=hardware,
        k8s_version=k8s_version,
        strict=strict,
        tools=not no_tools,
        vllm_version=vllm_version,
    )
    if not result.files:
        # A mistyped path must not pass CI silently.
        skipped = f" ({len(result.skipped)} file(s) skipped as not deployment files)"
        raise InputError(
            f"nothing to lint in {', '.join(str(p) for p in paths)}"
            f"{skipped if result.skipped else ''}",
            hint="point lint at Kubernetes YAML, compose files, Dockerfiles or Helm values",
        )
    if output == "json":
        text = rep.to_json(result)
    elif output == "sarif":
        text = rep.to_sarif_text(result)
    else:
        color = out is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        text = rep.to_text(result, color=color, verbose=verbose)
    if out:
        from deploy_kit.fsutil import atomic_write_text

        atomic_write_text(Path(out), text)
        if not quiet:
            click.echo(
                f"wrote {out}: {result.errors} error(s), {result.warnings} warning(s)", err=True
            )
    else:
        click.echo(text, nl=False)
    if result.exit_code:
        from deploy_kit.errors import LintFailed

        what = f"{result.errors} error(s)" if result.errors else f"{result.warnings} warning(s)"
        raise LintFailed(f"lint failed: {what}" + (" (--strict)" if not result.errors else ""))
