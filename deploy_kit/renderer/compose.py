"""Compose target: one compose file for a single node, or one file per machine joined by vLLM."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

from deploy_kit.catalog import load_catalog
from deploy_kit.errors import InputError
from deploy_kit.renderer.context import RenderContext, header_lines
from deploy_kit.renderer.docker import HEAD_ENV, Health, health
from deploy_kit.renderer.templating import render_template
from deploy_kit.vllm import argv as vllm

# Compose fills `${HEAD_IP}` (and the per-node values below) from the .env beside the files.
HEAD_REF = "${" + HEAD_ENV + "}"
NET_IF_ENV = "NET_IF"
ENV_FILE = ".env"
# ROCm partitioning: vLLM's ROCm platform mirrors HIP_VISIBLE_DEVICES into CUDA_VISIBLE_DEVICES;
# setting ROCR_VISIBLE_DEVICES as well would filter twice and can hide every GPU.
ENV_HIP_VISIBLE = "HIP_VISIBLE_DEVICES"
AMD_DEVICES = ("/dev/kfd", "/dev/dri")
AMD_GROUPS = ("video",)
IB_DEVICES = ("/dev/infiniband",)
# RDMA registers (pins) memory: it needs IPC_LOCK and an unlimited memlock rlimit.
RDMA_CAPS = ("IPC_LOCK",)
# Log rotation: a server that runs for weeks must not fill the disk with json logs.
LOG_MAX_SIZE = "100m"
LOG_MAX_FILES = "5"
RESTART = "unless-stopped"
# Exit status of the API-key guard (EX_CONFIG): a configuration problem, not a crash.
EX_CONFIG = 78
SERVICE = "vllm"


@dataclass(frozen=True)
class NvidiaGpus:
    """deploy.resources.reservations.devices entry: a count, or explicit ids when partitioned."""

    count: int | None
    device_ids: list[str] | None


@dataclass(frozen=True)
class Service:
    """One compose service: every value already final, the template only places them."""

    name: str
    entrypoint: list[str]
    command: list[str]
    environment: dict[str, str]
    gpus: list[str]
    gpu_text: str  # for the README: which GPUs, or how many when the runtime picks
    nvidia: NvidiaGpus | None
    host_port: int | None = None
    ports: list[str] = field(default_factory=list)
    healthcheck: Health | None = None
    devices: list[str] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    host_network: bool = False
    memlock: bool = False


@dataclass(frozen=True)
class NodeFile:
    """One machine's compose file, for the README and .env.example."""

    path: str
    rank: int
    machine: str
    role: str
    address_var: str


def render(ctx: RenderContext) -> dict[str, str]:
    vllm.require_pinned(ctx.image)
    check_publish(ctx)
    if ctx.plan.nodes > 1:
        return _render_multi(ctx)
    return _render_single(ctx)


def check_publish(ctx: RenderContext) -> None:
    """The API port is published on an IP; anything beyond loopback needs the API key on."""
    address = ctx.options.publish_address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise InputError(
            f"publish address {address!r} is not an IP address",
            hint="use 127.0.0.1 (the default), another local IP, or 0.0.0.0 for all interfaces",
        ) from None
    if not ip.is_loopback and not ctx.options.api_key:
        raise InputError(
            f"the API would be published on {address} without an API key",
            hint="keep the API key on, or publish on 127.0.0.1 behind your own proxy",
        )


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def compose_token(token: str) -> str:
    """Escape `$` for compose interpolation, except the head reference compose must fill in."""
    return token if token == HEAD_REF else token.replace("$", "$$")


def serve_entry(ctx: RenderContext, serves_api: bool) -> list[str]:
    """The entrypoint. With an API key, a wrapper refuses to start without one.

    An empty or missing VLLM_API_KEY would make vLLM serve without authentication; the guard
    turns that mistake into a container that exits with a message in its log.
    """
    serve = list(vllm.SERVE)
    if not (serves_api and ctx.options.api_key):
        return serve
    key = vllm.ENV_API_KEY
    script = (
        f'test -n "$${key}" || {{ echo "{key} is empty: set it in {ENV_FILE} (see .env.example)"'
        f' >&2; exit {EX_CONFIG}; }}; exec {" ".join(serve)} "$$@"'
    )
    # sh -c SCRIPT NAME ARGS...: NAME becomes $0 and the command list becomes "$@".
    return ["/bin/sh", "-c", script, serve[0]]


def _service(
    ctx: RenderContext,
    name: str,
    argv: list[str],
    *,
    gpus: list[str],
    partition: bool,
    host_port: int | None,
    node_env: dict[str, str],
    multi_node: bool,
) -> Service:
    if argv[: len(vllm.SERVE)] != list(vllm.SERVE):
        raise AssertionError(f"unexpected argv head {argv[:2]!r}")  # vllm.py changed shape
    serves_api = vllm.F_HOST in argv
    env = dict(ctx.env)
    env.update(node_env)
    devices: list[str] = []
    group_add: list[str] = []
    nvidia = None
    if ctx.gpu_vendor == "amd":
        devices += AMD_DEVICES
        group_add += AMD_GROUPS
        if partition:
            env[ENV_HIP_VISIBLE] = ",".join(gpus)
    elif partition:
        nvidia = NvidiaGpus(count=None, device_ids=gpus)
    else:
        nvidia = NvidiaGpus(count=len(gpus), device_ids=None)
    if ctx.infiniband:
        devices += IB_DEVICES
    rdma = multi_node or ctx.infiniband
    ports = []
    if host_port is not None:
        ports.append(f"{_bracket(ctx.options.publish_address)}:{host_port}:{ctx.port}")
    return Service(
        name=name,
        entrypoint=serve_entry(ctx, serves_api),
        command=[compose_token(t) for t in argv[len(vllm.SERVE) :]],
        environment=dict(sorted(env.items())),
        gpus=gpus,
        gpu_text=", ".join(gpus) if partition else _gpu_count_text(ctx, len(gpus)),
        nvidia=nvidia,
        host_port=host_port,
        ports=ports,
        # Headless nodes serve no HTTP; the head's /health covers them (it fails when a rank
        # is lost), so their healthcheck is disabled rather than left failing.
        healthcheck=health(ctx) if serves_api else None,
        devices=devices,
        group_add=group_add,
        cap_add=list(RDMA_CAPS) if rdma else [],
        host_network=multi_node,
        memlock=rdma,
    )


def _gpu_count_text(ctx: RenderContext, count: int) -> str:
    return f"all {count}" if count == ctx.plan.hardware.gpus_per_node else f"any {count}"


def _render_single(ctx: RenderContext) -> dict[str, str]:
    plan = ctx.plan
    checkpoint = load_catalog().checkpoints[plan.checkpoint_id]
    # One machine per engine: no address appears in the argv, so the addressing is empty.
    argv = vllm.serve_argv(plan, checkpoint, 0, vllm.Addressing.concrete("", 0, 1))
    per_engine = ctx.gpus_per_pod
    # Several engines on one machine: one service each, on disjoint GPUs and host ports.
    per_machine = max(1, min(plan.replicas, plan.hardware.gpus_per_node // per_engine))
    partition = per_machine > 1
    services = [
        _service(
            ctx,
            f"{SERVICE}-{i}" if partition else SERVICE,
            argv,
            gpus=[str(g) for g in range(i * per_engine, (i + 1) * per_engine)],
            partition=partition,
            host_port=ctx.port + i,
            node_env={},
            multi_node=False,
        )
        for i in range(per_machine)
    ]
    files = {"compose.yaml": _compose_file(ctx, services)}
    files.update(_common(ctx, services, [], machines=math.ceil(plan.replicas / per_machine)))
    return files


def node_address_var(rank: int) -> str:
    return HEAD_ENV if rank == 0 else f"NODE_{rank}_IP"


def node_env(ctx: RenderContext, rank: int) -> dict[str, str]:
    """The per-node variables of vllm.node_env_names, bound to .env entries."""
    env = {}
    for name in ctx.node_env:
        if name == vllm.ENV_HOST_IP:
            source = node_address_var(rank)
        elif name in vllm.NETWORK_IF_ENV:
            source = NET_IF_ENV
        else:
            source = name
        env[name] = "${" + source + "}"
    return env


def node_argv(ctx: RenderContext, rank: int) -> list[str]:
    """This node's argv; with host networking the head binds the publish address itself."""
    plan = ctx.plan
    checkpoint = load_catalog().checkpoints[plan.checkpoint_id]
    addr = vllm.Addressing.concrete(HEAD_REF, rank, plan.data_parallel_local)
    return vllm.serve_argv(plan, checkpoint, rank, addr, host=ctx.options.publish_address)


def _render_multi(ctx: RenderContext) -> dict[str, str]:
    files: dict[str, str] = {}
    nodes: list[NodeFile] = []
    services: list[Service] = []
    for rank, role in enumerate(ctx.roles):
        service = _service(
            ctx,
            SERVICE,
            node_argv(ctx, rank),
            gpus=[str(g) for g in range(ctx.gpus_per_pod)],
            partition=False,
            host_port=None,
            node_env=node_env(ctx, rank),
            multi_node=True,
        )
        path = f"{role}.compose.yaml"
        files[path] = _compose_file(ctx, [service])
        services.append(service)
        role_text = "head: serves the API" if rank == 0 else "worker (headless)"
        nodes.append(NodeFile(path, rank, role, role_text, node_address_var(rank)))
    files.update(_common(ctx, services, nodes, machines=ctx.plan.nodes))
    return files


def _compose_file(ctx: RenderContext, services: list[Service]) -> str:
    return render_template(
        "compose/compose.yaml.j2",
        header=header_lines(ctx),
        project=ctx.name,
        image=ctx.image,
        services=services,
        env_file=ENV_FILE,
        shm_size=ctx.shm_compose,
        cache_source=ctx.options.host_cache_path,
        cache_target=ctx.cache_mount,
        restart=RESTART,
        log_max_size=LOG_MAX_SIZE,
        log_max_files=LOG_MAX_FILES,
    )


def _extra_network_env(ctx: RenderContext) -> list[str]:
    """node_env names that read a same-named .env entry (e.g. NCCL_IB_HCA)."""
    bound = (vllm.ENV_HOST_IP, *vllm.NETWORK_IF_ENV)
    return [name for name in ctx.node_env if name not in bound]


def _local_url(ctx: RenderContext, port: int, path: str) -> str:
    """The URL to check from the machine itself (an unspecified bind answers on loopback)."""
    ip = ipaddress.ip_address(ctx.options.publish_address)
    if ip.is_unspecified:
        ip = ipaddress.ip_address("127.0.0.1" if ip.version == 4 else "::1")
    return f"http://{_bracket(str(ip))}:{port}{path}"


@dataclass(frozen=True)
class Row:
    """One README table row of a single-node bundle."""

    name: str
    gpus: str
    url: str


def _spread(ctx: RenderContext, machines: int) -> str:
    """Where the replicas go when the hardware has more than one machine's worth."""
    plan = ctx.plan
    if plan.nodes > 1 and plan.replicas > 1:
        return (
            f"The plan runs {plan.replicas} such engines: give each its own group of "
            f"{plan.nodes} machines, each group with its own `{ENV_FILE}` ({HEAD_ENV} differs)."
        )
    if plan.nodes == 1 and machines > 1:
        return (
            f"The plan runs {plan.replicas} engines on {machines} machines: run this folder "
            "on each of them and spread requests across them with your load balancer."
        )
    return ""


def _common(
    ctx: RenderContext, services: list[Service], nodes: list[NodeFile], *, machines: int
) -> dict[str, str]:
    plan = ctx.plan
    api = [s for s in services if s.healthcheck is not None]
    ports = [s.host_port if s.host_port is not None else ctx.port for s in api]
    header = header_lines(ctx)
    where = "Copy to .env beside the compose file and fill it in."
    if nodes:
        where = "Copy to .env beside the compose files on every machine and fill it in."
    secrets = {secret.env for secret in ctx.secrets}
    env_example = render_template(
        "compose/env.example.j2",
        header=header,
        where=where,
        nodes=nodes,
        workers=nodes[1:],
        net_if=NET_IF_ENV,
        hca_env=_extra_network_env(ctx),
        hf_token_env=vllm.ENV_HF_TOKEN if vllm.ENV_HF_TOKEN in secrets else None,
        api_key_env=vllm.ENV_API_KEY if vllm.ENV_API_KEY in secrets else None,
        publish=ctx.options.publish_address,
    )
    if ctx.gpu_vendor == "amd":
        runtime = "ROCm is installed on every machine (the containers get /dev/kfd and /dev/dri)."
    else:
        runtime = "The NVIDIA Container Toolkit is installed on every machine."
    rdma = bool(nodes) or ctx.infiniband
    open_ports = []
    if plan.multi_node == "data-parallel":
        open_ports.append(f"{vllm.DP_RPC_PORT} (data-parallel RPC, on the head)")
    if plan.multi_node == "nnodes":
        open_ports.append(f"{vllm.MASTER_PORT} (rendezvous, on the head)")
    steps = [
        f"{i + 1}. On {n.machine}: `docker compose -f {n.path} up -d`" for i, n in enumerate(nodes)
    ]
    rows = [
        Row(s.name, s.gpu_text, _local_url(ctx, p, "/v1/")) for s, p in zip(api, ports, strict=True)
    ]
    readme = render_template(
        "compose/README.md.j2",
        header=header,
        ctx=ctx,
        single=not nodes,
        spread=_spread(ctx, machines),
        gpu_runtime=runtime,
        service_rows=rows,
        health_urls=[_local_url(ctx, p, "/health") for p in ports],
        models_urls=[_local_url(ctx, p, "/v1/models") for p in ports],
        auth=f'-H "Authorization: Bearer ${vllm.ENV_API_KEY}" ' if ctx.options.api_key else "",
        nodes=nodes,
        open_ports=", ".join(open_ports),
        steps=steps,
        world_size=plan.tensor_parallel * plan.pipeline_parallel * plan.data_parallel,
        service=SERVICE,
        api_key_env=vllm.ENV_API_KEY if vllm.ENV_API_KEY in secrets else None,
        rdma_note=" but IPC_LOCK, with unlimited memlock (RDMA pins memory)" if rdma else "",
        env_file=ENV_FILE,
        head_env=HEAD_ENV,
        net_if=NET_IF_ENV,
    )
    return {
        ".env.example": env_example,
        ".gitignore": render_template("compose/gitignore.j2", header=header, env_file=ENV_FILE),
        "README.md": readme,
    }
