"""Docker target: a Dockerfile on the plan's pinned vLLM image, optionally with baked weights."""

from __future__ import annotations

import json
from dataclasses import dataclass

from deploy_kit.catalog import load_catalog
from deploy_kit.renderer.context import RenderContext, header_lines
from deploy_kit.renderer.templating import render_template
from deploy_kit.spec import Plan
from deploy_kit.vllm import argv as vllm

# The upstream images run as root and keep every cache under $HOME. On NVIDIA a fixed non-root
# user works: the container toolkit creates world-accessible device nodes and all JIT caches
# (torch.compile, Triton, FlashInfer, DeepGEMM) follow $HOME. A high uid never collides with a
# host account; the numeric USER keeps `runAsNonRoot`-style checks able to verify it.
NON_ROOT_USER = "vllm"
NON_ROOT_UID = 10001
NON_ROOT_HOME = f"/home/{NON_ROOT_USER}"

# Hugging Face client settings (not vLLM's): where the cache lives, offline mode for baked
# images, and a token file so the build secret never becomes an environment variable.
ENV_HOME = "HOME"
ENV_HF_HOME = "HF_HOME"
ENV_HF_HUB_OFFLINE = "HF_HUB_OFFLINE"
ENV_HF_TOKEN_PATH = "HF_TOKEN_PATH"
HF_TOKEN_SECRET_ID = "hf_token"
SECRET_MOUNT = f"/run/secrets/{HF_TOKEN_SECRET_ID}"
WEIGHTS_ROOT = "/models"

# Healthcheck cadence shared with compose: every 30 s, 10 s to answer, 3 misses = unhealthy.
HEALTH_INTERVAL_S = 30
HEALTH_TIMEOUT_S = 10
HEALTH_RETRIES = 3

LABEL_PREFIX = "dev.deploy-kit"


@dataclass(frozen=True)
class Health:
    """A container healthcheck against vLLM's /health."""

    test: list[str]
    interval: str
    timeout: str
    start_period: str
    retries: int


@dataclass(frozen=True)
class Bake:
    """The optional build stage that downloads the weights into the image."""

    checkpoint: str
    revision: str
    local_dir: str
    secret_id: str
    secret_mount: str
    token_path_env: str
    root: str


def health_test(port: int) -> list[str]:
    """/health probe with the image's own Python: curl is not guaranteed in every vLLM image."""
    url = f"http://127.0.0.1:{port}/health"
    code = f"import urllib.request; urllib.request.urlopen('{url}', timeout={HEALTH_TIMEOUT_S})"
    return ["CMD", "python3", "-c", code]


def health(ctx: RenderContext) -> Health:
    # Docker ignores failures during start_period; the probe window already covers the
    # estimated load time with margin and vLLM's own ready timeout.
    return Health(
        test=health_test(ctx.port),
        interval=f"{HEALTH_INTERVAL_S}s",
        timeout=f"{HEALTH_TIMEOUT_S}s",
        start_period=f"{ctx.probe_window_s}s",
        retries=HEALTH_RETRIES,
    )


def non_root(ctx: RenderContext) -> bool:
    """ROCm device nodes belong to the host's render/video groups, whose ids vary per host; a
    non-root user would need host-specific group ids, so AMD images keep the upstream root."""
    return ctx.gpu_vendor != "amd"


def hf_home(ctx: RenderContext) -> str:
    return f"{NON_ROOT_HOME}/.cache/huggingface" if non_root(ctx) else ctx.cache_mount


def head_argv(ctx: RenderContext, head: str, host: str = "0.0.0.0") -> list[str]:
    """node-0's full argv (the only node that serves the API)."""
    plan = ctx.plan
    checkpoint = load_catalog().checkpoints[plan.checkpoint_id]
    addr = vllm.Addressing.concrete(head, 0, plan.data_parallel_local)
    return vllm.serve_argv(plan, checkpoint, 0, addr, host=host)


def with_local_model(argv: list[str], plan: Plan, path: str) -> list[str]:
    """Serve baked weights from their directory: offline, and immune to revision lookups."""
    if argv[: len(vllm.SERVE) + 1] != [*vllm.SERVE, plan.checkpoint]:
        raise AssertionError(f"unexpected argv head {argv[:3]!r}")  # vllm.py changed shape
    return [*vllm.SERVE, path, *argv[len(vllm.SERVE) + 1 :]]


# A multi-node head needs the head's address at run time; the shell expands it and refuses an
# empty value with this message instead of starting a vLLM that cannot be joined.
HEAD_ENV = "HEAD_IP"
HEAD_SHELL_REF = "${" + HEAD_ENV + ":?set " + HEAD_ENV + " to the address of this (head) node}"


def _labels(ctx: RenderContext, bake: Bake | None) -> list[tuple[str, str]]:
    plan = ctx.plan
    labels = [
        ("org.opencontainers.image.title", f"{ctx.name} (vLLM {plan.vllm_version})"),
        ("org.opencontainers.image.base.name", ctx.image),
        (f"{LABEL_PREFIX}.version", ctx.version),
        (f"{LABEL_PREFIX}.model", plan.model),
        (f"{LABEL_PREFIX}.checkpoint", plan.checkpoint),
        (f"{LABEL_PREFIX}.plan", ctx.plan_line),
        (f"{LABEL_PREFIX}.weights-baked", "true" if bake else "false"),
    ]
    if bake is not None:
        labels.append((f"{LABEL_PREFIX}.revision", bake.revision))
    return labels


def _assignments(pairs: list[tuple[str, str]]) -> list[str]:
    """KEY="value" words for LABEL/ENV; JSON string quoting is valid Dockerfile quoting."""
    return [f"{key}={json.dumps(value)}" for key, value in pairs]


def json_groups(argv: list[str]) -> list[str]:
    """argv as JSON-array fragments, one flag with its values per line (readable CMD)."""
    groups: list[list[str]] = []
    for token in argv:
        if not groups or token.startswith("--"):
            groups.append([])
        groups[-1].append(token)
    return [", ".join(json.dumps(token) for token in group) for group in groups]


def _run_lines(ctx: RenderContext, tag: str) -> list[str]:
    """How a person runs the image: GPU flags per vendor, loopback publish, secrets by name."""
    if ctx.gpu_vendor == "amd":
        gpus = "--device /dev/kfd --device /dev/dri --group-add video"
    else:
        gpus = "--gpus all"
    if ctx.plan.nodes > 1:
        net = " ".join(
            ["--network host --ulimit memlock=-1 --cap-add IPC_LOCK"]
            + (["--device /dev/infiniband"] if ctx.infiniband else [])
            + [f"-e {name}" for name in (HEAD_ENV, *ctx.node_env)]
        )
    else:
        publish = ctx.options.publish_address
        host = f"[{publish}]" if ":" in publish else publish
        net = f"-p {host}:{ctx.port}:{ctx.port}"
    lines = [
        f"docker run -d --name {ctx.name}",
        f"{gpus} --shm-size {ctx.shm_compose}",
        net,
        # `-e NAME` without a value forwards the caller's variable: no secret touches a file.
        " ".join(f"-e {secret.env}" for secret in ctx.secrets),
        # A named volume starts as a copy of the image's directory, owner included, so the
        # non-root user can write to it without preparing a host directory.
        f"-v {ctx.name}-hf-cache:{hf_home(ctx)}",
        "--cap-drop ALL --security-opt no-new-privileges:true",
        tag,
    ]
    return [line + " \\" for line in lines[:-1]] + lines[-1:]


def render(ctx: RenderContext) -> dict[str, str]:
    plan = ctx.plan
    vllm.require_pinned(ctx.image)
    bake = None
    if ctx.options.bake_weights:
        bake = Bake(
            checkpoint=plan.checkpoint,
            revision=ctx.options.revision,
            local_dir=f"{WEIGHTS_ROOT}/{plan.checkpoint}",
            secret_id=HF_TOKEN_SECRET_ID,
            secret_mount=SECRET_MOUNT,
            token_path_env=ENV_HF_TOKEN_PATH,
            root=WEIGHTS_ROOT,
        )
    env = dict(sorted(ctx.env.items()))
    env[ENV_HF_HOME] = hf_home(ctx)
    if non_root(ctx):
        env[ENV_HOME] = NON_ROOT_HOME  # numeric USER: do not rely on a passwd lookup for $HOME
    if bake is not None:
        env[ENV_HF_HUB_OFFLINE] = "1"
    multi = plan.nodes > 1
    # Multi-node runs with host networking: nothing maps ports, so the head binds the
    # publish address itself.
    host = ctx.options.publish_address if multi else "0.0.0.0"
    argv = head_argv(ctx, HEAD_SHELL_REF if multi else "", host)
    if bake is not None:
        argv = with_local_model(argv, plan, bake.local_dir)
    if multi:
        # exec form cannot expand variables: the head command runs through sh -c so HEAD_IP
        # comes from `docker run -e`; exec keeps vLLM as PID 1 for signals.
        entrypoint = ["/bin/sh", "-c"]
        cmd = [json.dumps("exec " + vllm.shell_join(argv))]
    else:
        entrypoint = list(vllm.SERVE)
        cmd = json_groups(argv[len(vllm.SERVE) :])
    tag = f"{ctx.name}:v{plan.vllm_version}"
    user = None
    if non_root(ctx):
        user = {"name": NON_ROOT_USER, "uid": NON_ROOT_UID, "home": NON_ROOT_HOME}
    dockerfile = render_template(
        "docker/Dockerfile.j2",
        header=header_lines(ctx),
        image=ctx.image,
        bake=bake,
        labels=_assignments(_labels(ctx, bake)),
        env=_assignments(list(env.items())),
        user=user,
        amd=ctx.gpu_vendor == "amd",
        port=ctx.port,
        health=health(ctx),
        health_exec=health_test(ctx.port)[1:],  # Dockerfile form: no leading "CMD" word
        entrypoint=entrypoint,
        cmd=cmd,
        multi_node=multi,
        head_env=HEAD_ENV,
        tag=tag,
        build_secret=f"--secret id={HF_TOKEN_SECRET_ID},env={vllm.ENV_HF_TOKEN}",
        run_lines=_run_lines(ctx, tag),
        cache_path=hf_home(ctx),
        load_time_s=ctx.load_time_s,
    )
    dockerignore = render_template("docker/dockerignore.j2", header=header_lines(ctx))
    return {"Dockerfile": dockerfile, ".dockerignore": dockerignore}
