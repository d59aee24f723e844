"""Domain rules on launchers that form the engine outside vLLM's argv: Ray clusters (LWS with
multi-node-serving.sh or `ray start`, KubeRay, AIBrix, compose), KServe's declared parallelism,
and args that repeat the program the image already runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from deploy_kit.validate.findings import Finding
from deploy_kit.validate.invocations.base import Container, symbolic
from deploy_kit.validate.rules.facts import Facts, finding
from deploy_kit.validate.rules.k8s import shm_check
from deploy_kit.vllm import argv as vllm


def check(c: Container) -> list[Finding]:
    """DK101/DK102 from a KServe `parallelism`, DK118 for a program given as args, DK106 for
    a Ray worker (vLLM runs its ranks there, though no vLLM command is written)."""
    out = declared_rule(c) + program_in_args_rule(c)
    if c.ray is not None and c.vllm is None and c.gpus is not None:
        out += shm_check(c, c.gpus.count)
    return out


def program_in_args_rule(c: Container) -> list[Finding]:
    """DK118: args naming a program for an image whose ENTRYPOINT is `vllm serve`."""
    where = c.program_in_args
    if where is None or not c.argv:
        return []
    program = c.argv[0]
    key = "command" if c.source == "compose" else "args"
    fix = "entrypoint" if c.source == "compose" else "command"
    return [
        finding(
            "DK118",
            where,
            f"{c.label}: {key} {'starts' if key == 'command' else 'start'} with {program!r}, "
            f"but image {c.image} already runs "
            f"`{' '.join(vllm.SERVE)}` (its ENTRYPOINT), so the container runs "
            f"`{' '.join(vllm.SERVE)} {program} ...` and exits",
            hint=f"put the program in {fix}: (or drop it and give only the server's arguments)",
        )
    ]


def declared_rule(c: Container) -> list[Finding]:
    """DK101/DK102: KServe LLMInferenceService pods request the GPUs its parallelism runs."""
    declared = c.declared
    if declared is None:
        return []
    out: list[Finding] = []
    if declared.multi_node and declared.data % declared.data_local:
        out.append(
            finding(
                "DK102",
                declared.where,
                f"{c.label}: parallelism data {declared.data} is not a multiple of dataLocal "
                f"{declared.data_local}, so no whole number of pods holds the DP ranks",
                hint="make data a multiple of dataLocal (data / dataLocal pods per group)",
            )
        )
    want = declared.gpus_per_pod
    if c.gpus is None or c.gpus.count is None or c.gpus.count == want:
        return out
    shape = f"tensor {declared.tensor}"
    if declared.multi_node:
        shape += f" x dataLocal {declared.data_local}"
    out.append(
        finding(
            "DK101",
            c.gpus.where,
            f"{c.label}: requests {c.gpus.count} GPU(s), but KServe starts vLLM with {shape} "
            f"= {want} rank(s) in each pod (parallelism)",
        )
    )
    return out


def check_groups(containers: Sequence[Container], facts: Sequence[Facts]) -> list[Finding]:
    """DK101/DK102 per Ray cluster: the head's TP x PP x DP against every GPU the cluster's
    pods request, and the nodes the head waits for against the pods that start one."""
    by_container = {id(f.container): f for f in facts}
    groups: dict[str, list[Container]] = defaultdict(list)
    for c in containers:
        groups[_group_key(c)].append(c)
    out: list[Finding] = []
    for members in groups.values():
        out += _serve_llm(members)
        heads = [
            c
            for c in members
            if c.ray is not None and c.ray.role in ("head", "both") and c.vllm is not None
        ]
        if len(heads) != 1 or id(heads[0]) not in by_container:
            continue  # no engine formed over Ray here, or several: nothing sure to count
        head = by_container[id(heads[0])]
        if not head.over_ray:
            continue  # its vLLM runs another executor: counted per pod like any server
        nodes = [c for c in members if c.ray is not None]
        out += _cluster_size(head, nodes)
        out += _gpus(head, nodes)
        out += _compose_network(nodes)
    return out


def _compose_network(nodes: Sequence[Container]) -> list[Finding]:
    """DK115: Ray nodes written as one compose file per machine reach each other (Ray's GCS and
    object store, NCCL, Gloo) only on the host network."""
    if len({c.file for c in nodes if c.source == "compose"}) < 2:
        return []
    return [
        finding(
            "DK115",
            c.where,
            f"{c.label}: a Ray node of a cluster spread over several compose files (machines) "
            "on a bridge network; Ray, NCCL and Gloo must reach the other machines",
        )
        for c in nodes
        if c.source == "compose" and not c.host_network
    ]


def _group_key(c: Container) -> str:
    if c.source == "compose":
        # Ray nodes of one compose project often live in one file per machine, side by side.
        return f"compose:{Path(c.file).parent}"
    return c.group


def _gpus(head: Facts, nodes: Sequence[Container]) -> list[Finding]:
    if None in (head.tp, head.pp, head.dp):
        return []
    world = (head.tp or 1) * (head.pp or 1) * (head.dp or 1)
    counts = [ray_gpus(c) for c in nodes]
    if any(count is None for count in counts):
        return []  # "all GPUs" somewhere: unknown
    most = _total(nodes, counts, lambda c: c.max_pods)
    fixed = _total(nodes, counts, lambda c: c.pods)
    hc = head.container
    where = hc.gpus.where if hc.gpus is not None else hc.where
    shape = f"TP {head.tp} x PP {head.pp} x DP {head.dp}"
    if most is not None and world > most[0]:
        return [
            finding(
                "DK101",
                where,
                f"{hc.label}: {shape} needs {world} GPU(s) from the Ray cluster, which has "
                f"at most {most[0]} ({most[1]}); the engine waits for GPUs that never come",
                hint="request TP x PP x DP GPUs over the Ray cluster's pods "
                "(group size x GPUs per pod)",
            )
        ]
    if fixed is not None and world < fixed[0]:
        return [
            finding(
                "DK101",
                where,
                f"{hc.label}: the Ray cluster has {fixed[0]} GPU(s) ({fixed[1]}), but "
                f"{shape} uses {world}; {fixed[0] - world} stay idle",
                severity="warning",
                hint="request TP x PP x DP GPUs over the Ray cluster's pods, or raise TP / PP",
            )
        ]
    return []


def ray_gpus(c: Container) -> int | None:
    """GPUs a Ray node offers the cluster: `--num-gpus` / rayStartParams num-gpus when given
    (Ray takes it over what it detects), else what the container requests."""
    if c.ray is not None and c.ray.num_gpus is not None:
        return c.ray.num_gpus
    return 0 if c.gpus is None else c.gpus.count


def _serve_llm(members: Sequence[Container]) -> list[Finding]:
    """DK101: a Ray Serve LLM app's fewest replicas fit on the most GPUs the cluster can have
    (each replica is a vLLM engine of TP x PP x DP GPUs in one placement group)."""
    heads = [c for c in members if c.serve_llm]
    if len(heads) != 1:
        return []
    nodes = [c for c in members if c.ray is not None]
    counts = [ray_gpus(c) for c in nodes]
    most = _total(nodes, counts, lambda c: c.max_pods)
    configs = heads[0].serve_llm
    need = sum(m.gpus_per_replica * m.replicas for m in configs)
    if most is None or need <= most[0]:
        return []
    shapes = ", ".join(f"{m.model}: {m.replicas} x {m.gpus_per_replica}" for m in configs)
    return [
        finding(
            "DK101",
            configs[0].where,
            f"{heads[0].workload_kind}: Ray Serve LLM needs {need} GPU(s) for its fewest "
            f"replicas ({shapes}), but the Ray cluster has at most {most[0]} ({most[1]}); the "
            "replicas never start",
            hint="add GPU workers (replicas x GPUs per pod), or lower num_replicas / "
            "min_replicas or the engine's parallel sizes",
        )
    ]


def _total(
    nodes: Sequence[Container],
    counts: Sequence[int | None],
    pods_of: Callable[[Container], int | None],
) -> tuple[int, str] | None:
    """GPUs over the Ray nodes with the pods each template runs, and how they add up; None when
    some count is not known (an autoscaler without a bound, a controller-sized group)."""
    total = 0
    parts: list[str] = []
    for c, count in zip(nodes, counts, strict=True):
        pods = pods_of(c)
        if pods is None or count is None:
            return None
        total += count * pods
        if pods:
            role = c.ray.role if c.ray is not None else "?"
            unit = "container(s)" if c.source == "compose" else "pod(s)"
            parts.append(f"{pods} {role} {unit} x {count}")
    return total, ", ".join(parts)


def _cluster_size(head: Facts, nodes: Sequence[Container]) -> list[Finding]:
    ray = head.container.ray
    if ray is None or ray.cluster_size is None or symbolic(ray.cluster_size):
        return []
    try:
        wanted = int(ray.cluster_size)
    except ValueError:
        return []
    if any(c.pods is None for c in nodes):
        return []
    started = sum(c.pods or 0 for c in nodes)
    if wanted == started:
        return []
    hang = wanted > started
    return [
        finding(
            "DK102",
            ray.where,
            f"{head.container.label}: {ray.how} waits for {wanted} Ray node(s) "
            f"(--ray_cluster_size), but the group starts {started}"
            + ("; it times out before vLLM starts" if hang else "; vLLM may start early"),
            severity="error" if hang else "warning",
            hint="pass --ray_cluster_size=$(LWS_GROUP_SIZE)",
        )
    ]
