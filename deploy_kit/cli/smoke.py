"""`deploy-kit smoke URL`: check a running endpoint against the guide's API, and under load."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from deploy_kit.errors import InputError
from deploy_kit.vllm import argv as vllm

# Without --api-key/--api-key-env, the key the bundles configure (compose .env, Kubernetes Secret).
DEFAULT_KEY_ENV = vllm.ENV_API_KEY
LOAD_ONLY = ("concurrency", "isl", "osl", "duration", "requests")


def resolve_key(
    api_key: str | None, api_key_env: str | None, environ: dict[str, str]
) -> str | None:
    """The key to send: --api-key, else the variable --api-key-env names, else VLLM_API_KEY."""
    if api_key is not None and api_key_env is not None:
        raise click.UsageError("--api-key and --api-key-env exclude each other")
    if api_key is not None:
        if not api_key.strip():
            raise InputError("--api-key is empty")
        return api_key
    if api_key_env is not None:
        value = environ.get(api_key_env, "")
        if not value.strip():
            raise InputError(
                f"--api-key-env {api_key_env}: that variable is not set or empty",
                hint=f"export {api_key_env}=<key>, or drop --api-key-env if the server has no key",
            )
        return value
    value = environ.get(DEFAULT_KEY_ENV, "")
    return value if value.strip() else None


class LoadBar:
    """A rich progress bar on a terminal; silent otherwise (CI logs get the final table)."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._progress = Progress(
                "load probe", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=Console(stderr=True), transient=True,
            )  # fmt: skip
            self._progress.start()
            self._task = self._progress.add_task("", total=total)
        self._progress.update(self._task, completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@click.command()
@click.argument("url")
@click.option(
    "--api-key-env", metavar="VAR", help=f"Read the API key from VAR (default {DEFAULT_KEY_ENV})."
)
@click.option(
    "--api-key",
    metavar="KEY",
    help="The API key itself (prefer --api-key-env: argv is visible to other users).",
)
@click.option("--model", help="Served model name (default: the plan's, else the first listed).")
@click.option(
    "--plan", "plan_file", type=click.Path(dir_okay=False), help="plan.json to check against."
)
@click.option(
    "--bundle", type=click.Path(file_okay=False), help="Rendered bundle to check against."
)
@click.option(
    "--require",
    multiple=True,
    type=click.Choice(["embeddings"]),
    help="Count an optional check as required.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "junit"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the report to this file.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=3600),
    default=60.0,
    show_default=True,
    help="Seconds each request may take.",
)
@click.option("--load", is_flag=True, help="Also run the load probe.")
@click.option("--concurrency", type=click.IntRange(1, 1024), help="Load: concurrent streams [4].")
@click.option(
    "--isl", type=click.IntRange(1, 1_000_000), help="Load: input tokens per request [256]."
)
@click.option(
    "--osl", type=click.IntRange(1, 100_000), help="Load: output tokens per request [64]."
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1, max=3600),
    help="Load: stop issuing after S seconds [30].",
)
@click.option(
    "--requests", type=click.IntRange(1, 4096), help="Load: at most N requests [2 per stream]."
)
@click.option(
    "--calibration-out",
    type=click.Path(dir_okay=False),
    help="With --load and --plan/--bundle: write a calibration record (JSON).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but the report.")
@click.pass_context
def smoke(
    ctx: click.Context,
    /,
    url: str,
    api_key_env: str | None,
    api_key: str | None,
    model: str | None,
    plan_file: str | None,
    bundle: str | None,
    require: tuple[str, ...],
    output: str,
    out: str | None,
    timeout: float,
    load: bool,
    calibration_out: str | None,
    quiet: bool,
    **load_kw: Any,
) -> None:
    """Check that a running endpoint serves what the guide promises (exit 1 if a check fails)."""
    from deploy_kit.cli.options import emit
    from deploy_kit.smoke import expect as expectations
    from deploy_kit.smoke import report as fmt
    from deploy_kit.smoke import runner
    from deploy_kit.smoke.load import LoadSettings, calibration_record

    if plan_file and bundle:
        raise click.UsageError("--plan and --bundle exclude each other")
    given = [k for k in LOAD_ONLY if load_kw.get(k) is not None]
    if given and not load:
        raise click.UsageError(f"--{given[0]} applies to the load probe: add --load")
    if calibration_out and not load:
        raise click.UsageError("--calibration-out needs --load")
    if calibration_out and not (plan_file or bundle):
        raise click.UsageError("--calibration-out needs --plan or --bundle (GPU and layout)")
    key = resolve_key(api_key, api_key_env, dict(os.environ))
    if plan_file:
        expect = expectations.from_plan(Path(plan_file))
    elif bundle:
        expect = expectations.from_bundle(Path(bundle))
    else:
        expect = expectations.Expectations()
    settings = None
    if load:
        defaults = LoadSettings()
        settings = LoadSettings(
            concurrency=load_kw.get("concurrency") or defaults.concurrency,
            isl=load_kw.get("isl") or defaults.isl,
            osl=load_kw.get("osl") or defaults.osl,
            duration_s=load_kw.get("duration") or defaults.duration_s,
            max_requests=load_kw.get("requests"),
            timeout_s=timeout,
        )
    bar = LoadBar(sys.stderr.isatty() and not quiet)
    try:
        result = runner.run(
            url,
            key=key,
            model=model,
            expect=expect,
            require=require,
            timeout_s=timeout,
            load=settings,
            on_load_progress=bar,
        )
    finally:
        bar.close()
    result = fmt.redact(result, [key])
    emit(fmt.render(result, output), out, quiet)
    if calibration_out and result.load is not None and expect.plan is not None:
        from deploy_kit.fsutil import atomic_write_text

        record = calibration_record(result.load, expect.plan, result.server_version)
        atomic_write_text(Path(calibration_out), fmt.as_json(record))
        if not quiet:
            click.echo(f"wrote {calibration_out}", err=True)
    if out and not quiet:
        click.echo(fmt.summary_line(result), err=True)
    if not result.ok:
        ctx.exit(1)
