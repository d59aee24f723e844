"""`deploy-kit up` / `down`: preflight, render compose for this machine, start, wait, stop."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from deploy_kit.cli.options import KNOB_KEYS, knob_values, make_plan, plan_options
from deploy_kit.errors import EnvironmentMissing, InputError
from deploy_kit.local import up as local
from deploy_kit.local.docker_client import Backend, DockerBackend
from deploy_kit.spec import HardwareProfile, Plan
from deploy_kit.vllm import argv as vllm
from deploy_kit.yamlio import load_json_file, read_text

# Tests replace this with a recorded fake; everything else goes through it to reach Docker.
backend_factory: Callable[[], Backend] = DockerBackend
# Mirrors RenderContext.cache_mount, for bundles whose plan.json cannot be read back.
CACHE_MOUNT = "/root/.cache/huggingface"
LOG_TAIL = 50
# Per-request bound of the smoke run after `up` (a warm server answers a short check in seconds;
# estimate with margin for the first request, which may still compile kernels).
SMOKE_TIMEOUT_S = 120.0


def _err(text: str, quiet: bool = False) -> None:
    if not quiet:
        click.echo(text, err=True)


# --- planning ----------------------------------------------------------------------------------


def _detected_profile(probe: local.GpuProbe) -> HardwareProfile:
    """Observations -> profile through discovery (written separately; looked up at run time)."""
    if not probe.observations:
        raise local.PreflightFailed(
            local.CheckResult(
                "gpus",
                "fail",
                "no GPU found on this machine (nvidia-smi, rocm-smi and amd-smi found none"
                + (f": {'; '.join(probe.notes)}" if probe.notes else "")
                + ")",
                "install the GPU driver so `nvidia-smi` lists the GPUs; or see a plan for "
                "other hardware with `deploy-kit up --dry-run --hardware 8xH200`",
            )
        )
    try:
        discovery: Any = importlib.import_module("deploy_kit.planner.pools")
    except ModuleNotFoundError as exc:
        if exc.name != "deploy_kit.planner.pools":
            raise
        raise EnvironmentMissing(
            "hardware detection is not available in this build",
            hint="pass --hardware PRESET (deploy-kit hardware lists them)",
        ) from None
    from deploy_kit.catalog import load_catalog

    profile: HardwareProfile = discovery.profile_from_observations(
        list(probe.observations), load_catalog(), name="local"
    )
    return profile


def _plan(kw: dict[str, Any], profile: HardwareProfile | None) -> Plan:
    if profile is None:
        plan: Plan = make_plan(kw)
        return plan
    from deploy_kit.catalog import load_catalog
    from deploy_kit.cli import inputs
    from deploy_kit.planner import search as planner

    catalog = load_catalog()
    model = kw.get("model")
    base = None
    if kw.get("deploy_file"):
        file_model, _hw, base = inputs.load_deployment(Path(kw["deploy_file"]), catalog)
        model = model or file_model
    knobs = inputs.build_knobs(knob_values(kw, KNOB_KEYS), base)
    return planner.plan(catalog, model or inputs.DEFAULT_MODEL, profile, knobs)


def _options(cache_dir: str | None) -> Any:
    from pydantic import ValidationError

    from deploy_kit.renderer import RenderOptions
    from deploy_kit.yamlio import validation_message

    data = {"host_cache_path": str(Path(cache_dir).absolute())} if cache_dir else {}
    try:
        return RenderOptions.model_validate(data)
    except ValidationError as exc:
        raise InputError(validation_message(exc, origin="--cache-dir")) from None


# --- progress display ---------------------------------------------------------------------------


class Display:
    """Wait progress: a rich bar on a terminal, a plain line every 30 s otherwise."""

    def __init__(self, tty: bool, quiet: bool) -> None:
        self._tty = tty and not quiet
        self._quiet = quiet
        self._rich: Any = None
        self._task: Any = None
        self._last: tuple[str, float] | None = None

    def __call__(self, p: local.WaitProgress) -> None:
        if self._quiet:
            return
        if self._tty:
            self._draw(p)
            return
        if (
            self._last is None
            or self._last[0] != p.phase
            or p.elapsed_s - self._last[1] >= local.PLAIN_PROGRESS_EVERY_S
        ):
            self._last = (p.phase, p.elapsed_s)
            click.echo(local.progress_line(p), err=True)

    def _draw(self, p: local.WaitProgress) -> None:
        if self._rich is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            # The elapsed column ticks on its own between polls; the bar fills toward the
            # estimated load time and stays full once past it.
            self._rich = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[note]}"),
                console=Console(stderr=True),
            )
            self._rich.start()
            self._task = self._rich.add_task("", total=max(p.expected_s, 1.0), note="")
        what = "/health" if p.phase == "health" else "/v1/models"
        over = ", over the estimate" if p.elapsed_s > p.expected_s else ""
        note = f"of ~{local.duration(p.expected_s)} estimated{over}"
        self._rich.update(
            self._task,
            completed=min(p.elapsed_s, p.expected_s),
            description=f"waiting for {what}",
            note=note,
        )

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None


# --- up -----------------------------------------------------------------------------------------


@click.command()
@plan_options
@click.option(
    "--detect",
    is_flag=True,
    help="Plan for the GPUs nvidia-smi/rocm-smi find here (the default without --hardware).",
)
@click.option(
    "--out",
    default=local.DEFAULT_OUT,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Bundle directory.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan, files and commands; run nothing.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    help="Seconds to wait for /health and /v1/models (default: the healthcheck window).",
)
@click.option("--cache-dir", help="Host folder for the model cache (compose bind mount).")
@click.option("--force", is_flag=True, help="Overwrite edited bundle files (keeps a .bak).")
@click.option("--no-smoke", is_flag=True, help="Skip `deploy-kit smoke` once the server is ready.")
@click.option("--quiet", "-q", is_flag=True, help="Print only results and errors.")
def up(
    detect: bool,
    out: str,
    dry_run: bool,
    timeout: float | None,
    cache_dir: str | None,
    force: bool,
    no_smoke: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Serve DeepSeek V4 on this machine with Docker Compose, and wait until it answers."""
    if detect and kw.get("hardware_"):
        raise click.UsageError("--detect and --hardware exclude each other")
    detect = detect or not (kw.get("hardware_") or kw.get("deploy_file"))
    options = _options(cache_dir)
    out_dir = Path(out)
    if dry_run:
        _dry_run(kw, detect, out_dir, options, timeout, not no_smoke)
        return

    from deploy_kit.renderer.bundle import check_manifest, write_bundle

    check_manifest(out_dir)  # a hostile manifest is refused before anything else is asked
    backend = backend_factory()
    facts = backend.engine_facts()  # first, so a missing engine leaves nothing behind
    prefix, compose_version = backend.compose()
    first = [local.check_engine(facts), local.check_compose(compose_version, prefix)]
    local.raise_first_failure(first)
    for result in first:
        _err(result.line(), quiet)

    if local.is_local_host(facts.host):
        probe = local.probe_gpus()
    else:
        probe = local.GpuProbe((), (f"engine {facts.host} is remote; GPUs not probed here",))
    plan = _plan(kw, _detected_profile(probe) if detect else None)
    files, rctx = _render(plan, options)
    project = local.project_name(plan.model)
    compose_file, env_file, example = local.bundle_paths(out_dir.absolute())
    results = _preflight(backend, facts, probe, plan, files, rctx, project, env_file)
    for result in results:
        _err(result.line(), quiet and result.ok)
    local.raise_first_failure(results)

    report = write_bundle(out_dir, files, force=force)
    _err(f"wrote {len(report.written)} file(s) to {report.out}", quiet)
    change = local.ensure_env_file(env_file, example, _environ(), rctx.options.api_key)
    if change.created:
        _err(f"created {env_file} (mode 600) from .env.example", quiet)
    if change.copied:
        _err(f"copied {', '.join(change.copied)} from the environment into it (not shown)", quiet)
    if change.generated_key:
        _err(f"generated {local.API_KEY_ENV} into it (not shown)", quiet)

    cmds = local.ComposeCommands(prefix, compose_file, env_file, project)
    _err(f"$ {local.shell(cmds.up())}", quiet)
    code = backend.run(cmds.up())
    if code != 0:
        raise EnvironmentMissing(
            f"docker compose up failed with exit code {code}",
            hint="read compose's message above; fix it and run `deploy-kit up` again",
        )
    _wait_and_report(backend, plan, rctx, cmds, env_file, out_dir, timeout, quiet)
    if not no_smoke:
        key = local.secret_value((local.API_KEY_ENV,), _environ(), local.read_env_file(env_file))
        run_smoke(endpoint_for(rctx), plan, key if rctx.options.api_key else None, out_dir)


def _environ() -> dict[str, str]:

    return dict(os.environ)


def _render(plan: Plan, options: Any) -> tuple[dict[str, str], Any]:
    from deploy_kit.renderer import render_files
    from deploy_kit.renderer.context import build_context

    try:
        files = render_files(plan, "compose", options)
    except ModuleNotFoundError as exc:
        if exc.name != "deploy_kit.renderer.compose":
            raise
        raise EnvironmentMissing(
            "the compose target is not part of this build (deploy_kit.renderer.compose missing)",
            hint="update deploy-kit; `deploy-kit plan` still shows the plan",
        ) from None
    return files, build_context(plan, options, "compose")


def _preflight(
    backend: Backend,
    facts: local.EngineFacts,
    probe: local.GpuProbe,
    plan: Plan,
    files: dict[str, str],
    rctx: Any,
    project: str,
    env_file: Path,
) -> list[local.CheckResult]:
    """Every check after engine and compose, all run so one pass shows every problem."""
    from deploy_kit.catalog import load_catalog

    checkpoint = load_catalog().checkpoints[plan.checkpoint_id]
    results = [
        local.check_single_node(plan),
        local.check_gpu_runtime(facts, plan.hardware.gpu.vendor, local.host_facts(facts)),
        local.check_gpus(plan, probe, facts.discovered_devices),
        _disk(backend, facts, plan, checkpoint, files, rctx, project, env_file.parent),
    ]
    secrets_file = local.read_env_file(env_file)
    token = local.secret_value(local.HF_TOKEN_ENVS, _environ(), secrets_file)
    results.append(local.check_hf_token(checkpoint, token is not None))
    host, port = rctx.options.publish_address, rctx.port
    running = backend.project_running(project)
    free = running or local.port_free(host, port)
    results.append(local.check_port(host, port, free, running))
    return results


def _disk(
    backend: Backend,
    facts: local.EngineFacts,
    plan: Plan,
    checkpoint: Any,
    files: dict[str, str],
    rctx: Any,
    project: str,
    compose_dir: Path,
) -> local.CheckResult:
    need = local.weights_bytes(plan, checkpoint)
    compose_text = files.get(f"{local.COMPOSE_DIR}/{local.COMPOSE_FILE}", "")
    cache = local.cache_location(compose_text, rctx.cache_mount, project)
    if not local.is_local_host(facts.host):
        return local.check_disk(need, None, facts.host)
    if cache is not None and cache.kind == "bind":
        path = Path(cache.source).expanduser()
        path = path if path.is_absolute() else compose_dir / path
        cached = local.hf_cache_dir(path, checkpoint.hf_id)
        done = local.dir_size(cached) if cached.is_dir() else 0
        return local.check_disk(need, local.free_bytes(path), str(path), done)
    where = Path(facts.docker_root_dir) / "volumes"
    done = (backend.volume_size(cache.source) or 0) if cache is not None else 0
    label = f"volume {cache.source} in {facts.docker_root_dir}" if cache else str(where)
    fix = "free space there, or move Docker's data-root (daemon.json) to a bigger disk"
    return local.check_disk(need, local.free_bytes(where), label, done, fix)


def _wait_and_report(
    backend: Backend,
    plan: Plan,
    rctx: Any,
    cmds: local.ComposeCommands,
    env_file: Path,
    out_dir: Path,
    timeout: float | None,
    quiet: bool,
) -> None:
    base_url = endpoint_for(rctx)
    limit = timeout if timeout is not None else float(local.timeout_for(plan))
    key = local.secret_value((local.API_KEY_ENV,), _environ(), local.read_env_file(env_file))
    display = Display(sys.stdout.isatty(), quiet)
    follow = local.shell(cmds.logs(LOG_TAIL, follow=True))
    stop = f"deploy-kit down --out {out_dir}"

    def stopped() -> str | None:
        code, text = backend.output(cmds.ps(), timeout=30)
        return local.stopped_reason(local.parse_ps(text)) if code == 0 else None

    _err(
        f"waiting for {base_url} (estimated load {plan.load_time_s} s, timeout {limit:g} s)", quiet
    )
    try:
        ready = local.wait_ready(
            base_url,
            limit,
            plan.load_time_s,
            on_progress=display,
            api_key=key if rctx.options.api_key else None,
            stopped=stopped,
        )
    except KeyboardInterrupt:
        display.close()
        _err("\nstopped waiting; the containers keep running.")
        _err(f"  follow them: {follow}")
        _err(f"  stop them:   {stop}")
        raise  # the CLI turns it into exit 130
    except local.NotReady:
        display.close()
        _show_logs(backend, cmds)
        _err(f"follow: {follow}\nstop:   {stop}")
        raise
    display.close()
    model = ready.models[0] if ready.models else plan.model
    key_env = local.API_KEY_ENV if rctx.options.api_key else None
    lines = [
        f"ready in {local.duration(ready.elapsed_s)}: {ready.base_url} serves "
        f"{', '.join(ready.models) or model}",
    ]
    if key_env:
        lines.append(
            f"API key: in {env_file} unless exported (not shown); load it with\n"
            f"  export {key_env}=$(sed -n 's/^{key_env}=//p' {env_file})"
        )
    lines += ["", local.usage_examples(ready.base_url, model, key_env), ""]
    lines += [f"follow logs: {follow}", f"stop:        {stop}"]
    click.echo("\n".join(lines))


def run_smoke(base_url: str, plan: Plan, key: str | None, out_dir: Path) -> None:
    """`deploy-kit smoke` against the fresh stack, checked against its plan; exit 1 on a fail."""
    from deploy_kit.smoke import expect, runner
    from deploy_kit.smoke import report as fmt

    wanted = expect.Expectations(expect.served_name(plan), plan.max_model_len, plan, "plan")
    result = fmt.redact(
        runner.run(base_url, key=key, model=None, expect=wanted, timeout_s=SMOKE_TIMEOUT_S),
        [key],
    )
    click.echo(fmt.table(result), nl=False)
    if not result.ok:
        _err(
            f"smoke: a required check failed; the containers keep running. Rerun it with "
            f"`deploy-kit smoke {base_url} --bundle {out_dir}`, or stop them with "
            f"`deploy-kit down --out {out_dir}`."
        )
        raise click.exceptions.Exit(1)


def endpoint_for(rctx: Any) -> str:
    """The URL the stack answers on (tests point this at their own server)."""
    return local.endpoint(rctx.options.publish_address, rctx.port)


def _known_secrets(env_file: Path | None) -> list[str]:
    """Secret values this run knows (environment and the bundle's .env), to hide from logs."""
    values = local.read_env_file(env_file) if env_file is not None else {}
    names = (vllm.ENV_HF_TOKEN, vllm.ENV_API_KEY, "HUGGING_FACE_HUB_TOKEN")
    environ = _environ()
    found = [environ.get(n, "") for n in names] + [values.get(n, "") for n in names]
    # Very short values would redact ordinary words; real tokens and keys are long.
    return sorted({v for v in found if len(v) >= 8}, key=len, reverse=True)


def _show_logs(backend: Backend, cmds: local.ComposeCommands) -> None:
    code, text = backend.output(cmds.logs(LOG_TAIL))
    for secret in _known_secrets(cmds.env_file):  # a container may echo its secrets
        text = text.replace(secret, "[redacted]")
    lines = [ln for ln in text.splitlines() if ln.strip()][-LOG_TAIL:]
    if not lines:
        _err(f"(no container logs: {local.shell(cmds.logs(LOG_TAIL))} exited {code})")
        return
    _err(f"last {len(lines)} log lines:")
    for line in lines:
        _err(f"  {line}")


# --- dry run ------------------------------------------------------------------------------------


def _dry_run(
    kw: dict[str, Any],
    detect: bool,
    out_dir: Path,
    options: Any,
    timeout: float | None,
    smoke: bool = True,
) -> None:
    """Plan, files and commands; contacts no engine and starts nothing."""
    from deploy_kit.cli import views

    probe = local.probe_gpus() if detect else local.GpuProbe(())
    plan = _plan(kw, _detected_profile(probe) if detect else None)
    files, rctx = _render(plan, options)
    project = local.project_name(plan.model)
    compose_file, env_file, _example = local.bundle_paths(out_dir.absolute())
    prefix, _version = backend_factory().compose()
    cmds = local.ComposeCommands(prefix, compose_file, env_file, project)
    base_url = endpoint_for(rctx)
    limit = timeout if timeout is not None else local.timeout_for(plan)
    from deploy_kit.catalog import load_catalog

    checkpoint = load_catalog().checkpoints[plan.checkpoint_id]
    need_gib = local.weights_bytes(plan, checkpoint) / local.GIB
    gpu = plan.hardware.gpu
    lines = [views.format_plan(plan, "table").rstrip(), "", f"Files (would write in {out_dir}):"]
    lines += [
        f"  {out_dir / rel}  ({len(text.encode())} bytes)" for rel, text in sorted(files.items())
    ]
    lines.append(f"  {env_file}  (created if missing, mode 600; a generated API key if none)")
    lines += [
        "",
        "Preflight (would check, in this order):",
        f"  engine reachable at {local.engine_host(_environ())} (docker SDK info/version)",
        f"  compose v2: {local.shell([*prefix, 'version', '--short'])}",
        f"  GPU runtime for {gpu.vendor}: "
        + (
            "nvidia runtime or CDI nvidia.com/gpu devices"
            if gpu.vendor == "nvidia"
            else "/dev/kfd and /dev/dri"
        ),
        f"  GPUs: {plan.gpus_per_node} x {gpu.name} with >= "
        f"{plan.memory['per_gpu'].total_gib:g} GiB each ({local.shell(local.NVSMI_QUERY)})",
        f"  disk: {need_gib:.0f} GiB free for {checkpoint.hf_id} where the model cache lives",
        "  HF token: "
        + ("required (gated)" if local.needs_hf_token(checkpoint) else "optional")
        + " - HF_TOKEN in the environment or compose/.env (never printed)",
        f"  port {rctx.options.publish_address}:{rctx.port} free",
        "",
        "Commands (none was run):",
        f"  $ {local.shell(cmds.up())}",
        f"  wait for {base_url}/health, then {base_url}/v1/models "
        f"(timeout {limit:g} s, estimated load {plan.load_time_s} s)",
        (
            f"  smoke: $ deploy-kit smoke {base_url} --bundle {out_dir}  (skip with --no-smoke)"
            if smoke
            else "  smoke: skipped (--no-smoke)"
        ),
        f"  on failure: $ {local.shell(cmds.logs(LOG_TAIL))}",
        f"  follow:     $ {local.shell(cmds.logs(LOG_TAIL, follow=True))}",
        f"  stop:       $ {local.shell(cmds.down())}",
        f"  remove the model cache too: $ {local.shell(cmds.down(volumes=True))}",
    ]
    click.echo("\n".join(lines))


# --- down ---------------------------------------------------------------------------------------


def _bundle_identity(out_dir: Path) -> tuple[str, str]:
    """(project, cache mount) of a rendered bundle, from its plan.json when readable."""
    plan_file = out_dir / "plan.json"
    try:  # bounded: a plan.json swapped for a FIFO or a huge file is never read whole
        plan = Plan.model_validate(load_json_file(plan_file, what="bundle plan"))
    except (InputError, ValueError):
        return local.project_name(out_dir.absolute().name), CACHE_MOUNT
    return local.project_name(plan.model), CACHE_MOUNT


@click.command()
@click.option(
    "--out",
    default=local.DEFAULT_OUT,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Bundle directory given to `up`.",
)
@click.option(
    "--volumes", is_flag=True, help="Also remove the model cache (its size is printed first)."
)
@click.option("--dry-run", is_flag=True, help="Print the commands; run nothing.")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors.")
def down(out: str, volumes: bool, dry_run: bool, quiet: bool) -> None:
    """Stop the local stack; with --volumes also remove the model cache."""
    out_dir = Path(out)
    compose_file, env_file, _example = local.bundle_paths(out_dir.absolute())
    if not compose_file.is_file():
        raise InputError(
            f"no compose bundle at {out_dir} ({compose_file} is missing)",
            hint="pass the --out you gave to `deploy-kit up`",
        )
    project, mount = _bundle_identity(out_dir)
    compose_text = read_text(compose_file, what="compose file")
    cache = local.cache_location(compose_text, mount, project)
    backend = backend_factory()
    if dry_run:
        prefix, _version = backend.compose()
        cmds = local.ComposeCommands(prefix, compose_file, _env(env_file), project)
        click.echo(f"$ {local.shell(cmds.down(volumes=volumes))}")
        if volumes and cache is not None and cache.kind == "bind":
            click.echo(f"remove the host folder {cache.source}")
        return
    backend.engine_facts()  # exit 4 with the engine's address when there is none
    prefix, version = backend.compose()
    local.raise_first_failure([local.check_compose(version, prefix)])
    cmds = local.ComposeCommands(prefix, compose_file, _env(env_file), project)
    if volumes:
        _say_cache_size(backend, cache, quiet)
    argv = cmds.down(volumes=volumes)
    _err(f"$ {local.shell(argv)}", quiet)
    code = backend.run(argv)
    if code != 0:
        raise EnvironmentMissing(
            f"docker compose down failed with exit code {code}",
            hint="read compose's message above; `docker ps` shows what is still running",
        )
    if volumes and cache is not None and cache.kind == "bind":
        _remove_folder(Path(cache.source), quiet)
    elif not volumes and not quiet:
        where = f" ({cache.kind} {cache.source})" if cache else ""
        _err(f"stopped; the model cache is kept{where}: `deploy-kit down --volumes` removes it")


def _env(env_file: Path) -> Path | None:
    return env_file if env_file.is_file() else None


def _say_cache_size(backend: Backend, cache: local.CacheLocation | None, quiet: bool) -> None:
    if cache is None:
        _err("the model cache's location is unknown; removing the stack's volumes", quiet)
        return
    if cache.kind == "volume":
        size = backend.volume_size(cache.source)
        shown = f"{size / local.GIB:.1f} GiB" if size is not None else "size unknown"
        _err(f"removing the model cache volume {cache.source} ({shown})", quiet)
        return
    path = Path(cache.source)
    size_text = f"{local.dir_size(path) / local.GIB:.1f} GiB" if path.is_dir() else "absent"
    _err(f"removing the model cache folder {path} ({size_text})", quiet)


def _remove_folder(path: Path, quiet: bool) -> None:
    """Remove a bind-mounted cache folder, refusing paths that cannot be a cache."""
    resolved = path.expanduser().absolute()
    if len(resolved.parts) < 3 or resolved in (Path.home(), Path.cwd()):
        raise InputError(
            f"refusing to remove {resolved}: too close to / or your home folder",
            hint=f"remove it yourself if you mean it: rm -rf {resolved}",
        )
    if not resolved.exists():
        return
    try:
        shutil.rmtree(resolved)
    except OSError as exc:
        raise EnvironmentMissing(
            f"could not remove the model cache {resolved}: {exc.strerror or exc}",
            hint=f"files written by the container belong to root: sudo rm -rf {resolved}",
        ) from None
    _err(f"removed {resolved}", quiet)
