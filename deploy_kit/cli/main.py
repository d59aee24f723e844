"""Command line: parse, call the API, print, map errors to exit codes (kept thin)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from deploy_kit.cli.options import (
    WORKLOAD_KEYS,
    knob_values,
    make_plan,
    output_option,
    plan_options,
    workload_options,
)
from deploy_kit.cli.options import emit as _emit
from deploy_kit.cli.options import get_catalog as _catalog
from deploy_kit.errors import DeployKitError, ExitCode, InputError
from deploy_kit.version import __version__

REPORT_URL = "https://github.com/deploy-kit/deploy-kit/issues"


# Commands living in their own modules: imported only when run, so start-up stays cheap.
# (module, attribute, one-line help shown by --help without importing the module)
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "render": (
        "deploy_kit.cli.render",
        "render",
        "Render Dockerfile, compose, Kubernetes and/or Helm values from one plan.",
    ),
    "lint": (
        "deploy_kit.cli.lint",
        "lint",
        "Validate Dockerfiles, compose files, manifests and chart values.",
    ),
    "up": ("deploy_kit.cli.local", "up", "Bring V4 up on this machine's GPUs with docker compose."),
    "smoke": (
        "deploy_kit.cli.smoke",
        "smoke",
        "Check a running endpoint serves the guide's API; measure it against the plan.",
    ),
    "down": (
        "deploy_kit.cli.local",
        "down",
        "Stop the local deployment (--volumes removes the cache).",
    ),
    "discover": (
        "deploy_kit.cli.cluster",
        "discover",
        "Hardware profiles from a cluster's nodes or this machine.",
    ),
    "apply": (
        "deploy_kit.cli.cluster",
        "apply",
        "Apply a rendered Kubernetes bundle (server-side apply).",
    ),
    "status": (
        "deploy_kit.cli.cluster",
        "status",
        "Pods, readiness and vLLM start-up phase of a deployment.",
    ),
    "tools": (
        "deploy_kit.cli.tools",
        "tools",
        "The validators lint runs: pins, where found; `tools install` fetches helm.",
    ),
}


class LazyGroup(click.Group):
    """A group whose heavier subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module, attr, _ = LAZY_COMMANDS[cmd_name]
            command = getattr(__import__(module, fromlist=[attr]), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module}.{attr} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands:
                rows.append((name, LAZY_COMMANDS[name][2]))
                continue
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=80)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="deploy-kit")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Plan, render and validate self-hosted vLLM deployments of DeepSeek V4."""
    ctx.obj = {"debug": debug}


@cli.command()
@output_option("table", "json", "yaml", "csv")
def models(output: str, out: str | None, quiet: bool) -> None:
    """The model and checkpoint catalog."""
    from deploy_kit.cli import views

    rows = views.model_rows(_catalog())
    cols = [
        "id",
        "hf_id",
        "params",
        "status",
        "weights",
        "disk_gib",
        "min_vllm",
        "speculative",
        "verified_gpus",
    ]
    _emit(views.format_rows(rows, output, cols, "DeepSeek V4 checkpoints"), out, quiet)


@cli.command()
@output_option("table", "json", "yaml", "csv")
def hardware(output: str, out: str | None, quiet: bool) -> None:
    """GPU table and named hardware presets."""
    from deploy_kit.cli import views

    rows = views.gpu_rows(_catalog())
    cols = [
        "id",
        "name",
        "arch",
        "memory_gb",
        "usable_gib",
        "bandwidth_tbps",
        "bf16_tflops",
        "fp8",
        "fp4",
        "k8s_resource",
        "gpu_hour_usd",
        "presets",
    ]
    _emit(views.format_rows(rows, output, cols, "GPUs and presets"), out, quiet)


# --- plan ---------------------------------------------------------------------------------


@cli.command()
@plan_options
@click.option("--explain", is_flag=True, help="Also list every rejected layout with its reason.")
@output_option("table", "json", "yaml", "csv", "html")
def plan(output: str, out: str | None, quiet: bool, explain: bool, **kw: Any) -> None:
    """Plan parallelism, context, memory and capacity for a model on some hardware."""
    from deploy_kit.cli import views

    p = make_plan(kw)
    if output == "html":
        from deploy_kit.report import html as report

        _emit(report.plan_html(p), out, quiet)
        return
    _emit(views.format_plan(p, output, explain=explain), out, quiet)


@cli.command()
@click.option("--model", "-m", "models_", multiple=True, help="Model (repeatable; default both).")
@click.option(
    "--hardware", "-H", "hardware_", multiple=True, help="Preset (repeatable; default all)."
)
@click.option("--weights", multiple=True, help="Weight formats (default native, nvfp4, fp8).")
@click.option("--context", help="Context for the concurrency column (default 128K).")
@workload_options
@output_option("table", "json", "yaml", "csv", "html")
def capacity(
    models_: tuple[str, ...],
    hardware_: tuple[str, ...],
    weights: tuple[str, ...],
    context: str | None,
    output: str,
    out: str | None,
    quiet: bool,
    **workload: Any,
) -> None:
    """What fits where: every model x hardware x weight format (SLA columns: --isl ... --tpot)."""
    from deploy_kit.cli import inputs, views
    from deploy_kit.planner import capacity as cap
    from deploy_kit.spec import parse_tokens

    catalog = _catalog()
    try:
        ctx = parse_tokens(context) if context else cap.DEFAULT_CONTEXT
    except ValueError as exc:
        raise InputError(f"--context: {exc}") from None
    hws = [catalog.hardware(h) for h in hardware_] or list(catalog.presets.values())
    for m in models_:
        catalog.checkpoint(m)
    knobs = inputs.build_knobs(knob_values(workload, WORKLOAD_KEYS))
    rows = cap.rows(
        catalog, models_ or cap.DEFAULT_MODELS, hws, weights or cap.DEFAULT_WEIGHTS, ctx, knobs
    )
    if output == "html":
        from deploy_kit.report import html as report

        _emit(report.capacity_html(rows), out, quiet)
        return
    _emit(views.format_capacity(rows, output), out, quiet)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn every error into a one-line message and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        # Without standalone mode, ctx.exit(n) comes back as the return value.
        rv = cli.main(args=args, prog_name="deploy-kit", standalone_mode=False)
        if isinstance(rv, int):
            return rv
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.UsageError as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        if exc.ctx is not None:
            click.echo(f"hint: run '{exc.ctx.command_path} --help'", err=True)
        return int(ExitCode.BAD_INPUT)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return int(ExitCode.BAD_INPUT)
    except DeployKitError as exc:
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # Writing --out under a file, into a read-only directory, a full disk: name the path.
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"error: cannot write or read{where}: {exc.strerror or exc}", err=True)
        return int(ExitCode.BAD_INPUT)
    except ValueError as exc:
        if "null byte" not in str(exc):
            if debug:
                raise
            click.echo(
                f"internal error: ValueError: {exc} (a bug; report it at {REPORT_URL})", err=True
            )
            return int(ExitCode.INTERNAL)
        click.echo(
            "error: a path argument (--out, --hardware, -f, ...) contains a NUL byte", err=True
        )
        return int(ExitCode.BAD_INPUT)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"internal error: {type(exc).__name__}: {exc} (a bug; rerun with --debug and report "
            f"it at {REPORT_URL})",
            err=True,
        )
        return int(ExitCode.INTERNAL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
