"""Pure discovery: node pools and local GPU observations to hardware profiles, and pool choice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import Field

from deploy_kit.catalog import Catalog
from deploy_kit.errors import EnvironmentMissing, InputError, PinnedKnobError, PlanError
from deploy_kit.inventory import (
    AMD_GPU_RESOURCE,
    NVIDIA_GPU_RESOURCE,
    GpuObservation,
    NodeInventory,
    NodePool,
    Taint,
)
from deploy_kit.inventory.gpu import build_profile, resolve_gpu
from deploy_kit.inventory.gpu import product_table as product_table
from deploy_kit.spec import (
    MAX_GPUS_PER_NODE,
    MAX_NODES,
    Base,
    GpuSpec,
    HardwareProfile,
    Knobs,
    Network,
    Plan,
)

__all__ = [
    "DiscoveredProfile",
    "Discovery",
    "PoolChoice",
    "PoolOutcome",
    "RankedPool",
    "SkippedPool",
    "choose_pool",
    "discover_inventory",
    "local_profile",
    "product_table",
    "profile_from_observations",
    "profile_yaml",
    "profiles_from_inventory",
    "rank_pools",
]


# --- data ---------------------------------------------------------------------------------------


class DiscoveredProfile(Base):
    """One schedulable GPU node pool as a hardware profile the planner accepts."""

    pool: str = Field(description="Node pool name (GKE node pool, EKS node group, ...) or 'local'")
    pool_label: str | None = Field(
        default=None, description="Node label the pool name comes from; None when synthesised"
    )
    profile: HardwareProfile = Field(description="The hardware profile to plan with")
    catalog_gpu: str | None = Field(
        description="Catalog GPU id the product matched; None: a custom GPU built from labels"
    )
    gpu_product: str | None = Field(
        default=None, description="GPU product as the node labels or the tool reported it"
    )
    nodes: tuple[str, ...] = Field(default=(), description="Usable nodes of the pool")
    excluded_nodes: tuple[str, ...] = Field(
        default=(), description="Nodes of the same shape left out (cordoned, not Ready, ...)"
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels that pin a pod to this pool"
    )
    taints: tuple[Taint, ...] = Field(default=(), description="Taints a pod must tolerate")
    warnings: tuple[str, ...] = Field(default=(), description="What the user should check")


class SkippedPool(Base):
    """A GPU node pool that cannot become a hardware profile."""

    pool: str = Field(description="Node pool name")
    gpu_product: str | None = Field(description="GPU product label, if any")
    reason: str = Field(description="Why it was left out and what to do")


class Discovery(Base):
    """Everything discovery learned from a node inventory."""

    profiles: tuple[DiscoveredProfile, ...] = Field(description="Usable GPU pools as profiles")
    skipped: tuple[SkippedPool, ...] = Field(default=(), description="GPU pools left out")
    cpu_only_nodes: tuple[str, ...] = Field(default=(), description="Nodes without GPUs")
    total_nodes: int = Field(ge=0, description="Nodes in the inventory")
    warnings: tuple[str, ...] = Field(default=(), description="Inventory-level warnings")


class PoolOutcome(Base):
    """How one pool fared when planning the model on it."""

    pool: str = Field(description="Node pool name")
    profile: str = Field(description="Profile name, e.g. 2x8xH100")
    fits: bool = Field(description="A plan fits this pool")
    layout: str | None = Field(default=None, description="Planned layout, e.g. TP8+PP2")
    max_model_len: int | None = Field(default=None, description="Planned --max-model-len")
    max_concurrency_total: float | None = Field(
        default=None, description="Concurrent requests at max_model_len over all engines"
    )
    gpu_hour_usd_total: float = Field(description="Price of the whole pool per hour, USD")
    failure: Literal["no-fit", "pinned-knob"] | None = Field(
        default=None, description="Why no plan fits: the model does not fit, or a pinned knob"
    )
    reason: str = Field(description="Why it was chosen, or why it lost")


class RankedPool(NamedTuple):
    """A pool with its plan (None when nothing fits) and its outcome, best first."""

    pool: DiscoveredProfile
    plan: Plan | None
    outcome: PoolOutcome


class PoolChoice(NamedTuple):
    """The chosen pool's profile, why it was chosen, and why every other pool lost."""

    profile: HardwareProfile
    reason: str
    rejected: tuple[PoolOutcome, ...]


# --- node pools ---------------------------------------------------------------------------------


def _network(pool: NodePool) -> tuple[Network, str | None]:
    """The network between the pool's nodes, judged from their allocatable fabric devices."""
    rdma = set(pool.rdma_resources)
    if any(r.startswith("rdma/") for r in rdma) or "nvidia.com/hostdev" in rdma:
        return "infiniband", (
            f"pool {pool.name}: RDMA devices ({', '.join(sorted(rdma))}) taken as InfiniBand; "
            "set network: roce in the profile if the fabric is RoCE"
        )
    if "vpc.amazonaws.com/efa" in rdma:
        return "roce", (
            f"pool {pool.name}: AWS EFA recorded as network roce (an RDMA fabric over Ethernet; "
            "the profile schema has no EFA kind)"
        )
    if "amd.com/nic" in rdma:
        return "roce", None
    return "ethernet", (
        f"pool {pool.name}: no RDMA devices allocatable on the nodes; assuming plain Ethernet "
        "between nodes (multi-node tensor parallelism will be slow)"
    )


def _node_selector(pool: NodePool) -> dict[str, str]:
    if pool.pool_label:
        return {pool.pool_label: pool.name}
    if pool.product_label and pool.gpu_product:
        return {pool.product_label: pool.gpu_product}
    return {}


def _from_pool(pool: NodePool, catalog: Catalog) -> DiscoveredProfile | SkippedPool:
    where = f"pool {pool.name}"

    def skip(reason: str) -> SkippedPool:
        return SkippedPool(pool=pool.name, gpu_product=pool.gpu_product, reason=reason)

    if not pool.schedulable:
        excluded = ", ".join(pool.unschedulable_nodes)
        return skip(f"{where}: no node can take a GPU pod now ({excluded}); see its warnings")
    if pool.gpus_per_node > MAX_GPUS_PER_NODE:
        return skip(f"{where}: {pool.gpus_per_node} GPUs per node exceeds {MAX_GPUS_PER_NODE}")
    nodes = min(pool.node_count, MAX_NODES)
    gpu = resolve_gpu(
        catalog,
        where=where,
        product=pool.gpu_product,
        vendor=pool.vendor,
        memory_mib=pool.memory_mib,
        compute_capability=pool.compute_capability,
        family=pool.gpu_family,
        gfx=None,
        k8s_resource=pool.gpu_resource,
    )
    if isinstance(gpu, str):
        return skip(gpu)
    notes = [*pool.warnings, *gpu.notes]
    network: Network = "none"
    if nodes > 1:
        network, note = _network(pool)
        if note:
            notes.append(note)
    profile = build_profile(
        catalog,
        gpu,
        nodes=nodes,
        gpus_per_node=pool.gpus_per_node,
        network=network,
        origin=f"node pool {pool.name}",
    )
    return DiscoveredProfile(
        pool=pool.name,
        pool_label=pool.pool_label,
        profile=profile,
        catalog_gpu=gpu.catalog_id,
        gpu_product=pool.gpu_product,
        nodes=pool.node_names,
        excluded_nodes=pool.unschedulable_nodes,
        node_selector=_node_selector(pool),
        taints=pool.taints,
        warnings=tuple(notes),
    )


def discover_inventory(inv: NodeInventory, catalog: Catalog) -> Discovery:
    """Every GPU pool of a node inventory as a profile, or as a skipped pool with the reason."""
    profiles: list[DiscoveredProfile] = []
    skipped: list[SkippedPool] = []
    for pool in inv.pools:
        result = _from_pool(pool, catalog)
        if isinstance(result, SkippedPool):
            skipped.append(result)
        else:
            profiles.append(result)
    return Discovery(
        profiles=tuple(profiles),
        skipped=tuple(skipped),
        cpu_only_nodes=inv.cpu_only_nodes,
        total_nodes=inv.total_nodes,
        warnings=inv.warnings,
    )


def profiles_from_inventory(inv: NodeInventory, catalog: Catalog) -> list[DiscoveredProfile]:
    """The usable GPU pools of a node inventory as hardware profiles (skipped pools dropped)."""
    return list(discover_inventory(inv, catalog).profiles)


# --- one machine --------------------------------------------------------------------------------


def local_profile(
    obs: Sequence[GpuObservation], catalog: Catalog, name: str = "local"
) -> DiscoveredProfile:
    """This machine's GPUs (nvidia-smi / rocm-smi / amd-smi observations) as a profile."""
    if not obs:
        raise EnvironmentMissing(
            "no GPU found on this machine", hint="plan with --hardware for the target machine"
        )
    ranked = sorted(obs, key=lambda o: (o.count * (o.memory_mib or 0), o.count), reverse=True)
    best = ranked[0]
    notes = [f"ignored {o.count} x {o.product}: a deployment uses one GPU type" for o in ranked[1:]]
    gpu = resolve_gpu(
        catalog,
        where=name,
        product=best.product,
        vendor=best.vendor,
        memory_mib=best.memory_mib,
        compute_capability=best.compute_capability,
        family=None,
        gfx=best.gfx_version,
        k8s_resource=AMD_GPU_RESOURCE if best.vendor == "amd" else NVIDIA_GPU_RESOURCE,
    )
    if isinstance(gpu, str):
        raise InputError(gpu, hint="write a hardware file and pass it with --hardware")
    if best.count > MAX_GPUS_PER_NODE:
        raise InputError(f"{name}: {best.count} GPUs exceeds {MAX_GPUS_PER_NODE} per node")
    profile = build_profile(
        catalog, gpu, nodes=1, gpus_per_node=best.count, network="none", origin=name
    )
    return DiscoveredProfile(
        pool=name,
        profile=profile,
        catalog_gpu=gpu.catalog_id,
        gpu_product=best.product,
        warnings=tuple([*gpu.notes, *notes]),
    )


def profile_from_observations(
    obs: list[GpuObservation], catalog: Catalog, name: str = "local"
) -> HardwareProfile:
    """This machine's GPUs as a one-node hardware profile (see :func:`local_profile`)."""
    return local_profile(obs, catalog, name).profile


# --- profile file -------------------------------------------------------------------------------


def _gpu_entry(gpu: GpuSpec, catalog: Catalog) -> str | dict[str, Any]:
    if catalog.gpus.get(gpu.id) == gpu:
        return gpu.id
    memory: str | int = (
        f"{gpu.usable_mib}MiB" if gpu.usable_mib is not None else int(gpu.memory_gb * 1e9)
    )
    entry: dict[str, Any] = {
        "name": gpu.name,
        "memory": memory,
        "bandwidth_tbps": gpu.bandwidth_tbps,
        "arch": gpu.arch,
        "vendor": gpu.vendor,
    }
    if gpu.sm is not None:
        entry["sm"] = gpu.sm
    entry.update(
        bf16_tflops=gpu.bf16_tflops,
        fp8=gpu.fp8,
        fp4=gpu.fp4,
        k8s_resource=gpu.k8s_resource,
        gpu_hour_usd=gpu.gpu_hour_usd,
    )
    return entry


def profile_yaml(
    profile: HardwareProfile, *, catalog: Catalog | None = None, comment: str | None = None
) -> str:
    """The profile as a hardware file (`plan --hardware FILE`) that reads back to an equal one.

    A catalog GPU is written by id, any other GPU as a custom entry; only `source` fields
    differ after reading it back (they name the file).
    """
    if catalog is None:
        from deploy_kit.catalog import load_catalog

        catalog = load_catalog()
    data: dict[str, Any] = {
        "name": profile.name,
        "gpu": _gpu_entry(profile.gpu, catalog),
        "gpus_per_node": profile.gpus_per_node,
        "nodes": profile.nodes,
        "interconnect": profile.interconnect,
        "network": profile.network,
    }
    if profile.network_gbps is not None:
        data["network_gbps"] = profile.network_gbps
    if profile.gpu_hour_usd is not None:
        data["gpu_hour_usd"] = profile.gpu_hour_usd
    header = ["# deploy-kit hardware profile: deploy-kit plan --hardware THIS_FILE"]
    if comment:
        header += [f"# {line}" for line in comment.splitlines()]
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body


# --- choosing among pools -----------------------------------------------------------------------


def _outcome_fit(d: DiscoveredProfile, plan: Plan) -> PoolOutcome:
    return PoolOutcome(
        pool=d.pool,
        profile=d.profile.name,
        fits=True,
        layout=plan.layout.label(),
        max_model_len=plan.max_model_len,
        max_concurrency_total=plan.capacity.max_concurrency_total,
        gpu_hour_usd_total=_pool_cost(d),
        reason="",
    )


def _outcome_no_fit(d: DiscoveredProfile, exc: PlanError | PinnedKnobError) -> PoolOutcome:
    failure: Literal["no-fit", "pinned-knob"] = (
        "pinned-knob" if isinstance(exc, PinnedKnobError) else "no-fit"
    )
    return PoolOutcome(
        pool=d.pool,
        profile=d.profile.name,
        fits=False,
        gpu_hour_usd_total=_pool_cost(d),
        failure=failure,
        reason=f"no plan fits: {exc.message}",
    )


def _pool_cost(d: DiscoveredProfile) -> float:
    """USD per hour for all the pool's GPUs: shown, and the last tie-breaker between pools."""
    return round(d.profile.price * d.profile.total_gpus, 4)


def _rank_key(ranked: RankedPool, target: int | None) -> tuple[Any, ...]:
    o = ranked.outcome
    meets = target is None or (o.max_concurrency_total or 0) >= target
    return (
        not o.fits,
        not meets,
        -(o.max_model_len or 0),
        -(o.max_concurrency_total or 0),
        o.gpu_hour_usd_total,
        o.pool,
    )


def _why_lost(o: PoolOutcome, best: PoolOutcome, target: int | None) -> str:
    head = f"pool {o.pool} ({o.profile})"
    if not o.fits:
        return f"{head}: {o.reason}"
    if target is not None and (o.max_concurrency_total or 0) < target <= (
        best.max_concurrency_total or 0
    ):
        return (
            f"{head}: reaches {o.max_concurrency_total:g} concurrent requests, below the "
            f"target {target}"
        )
    if (o.max_model_len or 0) < (best.max_model_len or 0):
        return (
            f"{head}: fits only {o.max_model_len} tokens of context vs {best.max_model_len} "
            f"on {best.pool}"
        )
    if (o.max_concurrency_total or 0) < (best.max_concurrency_total or 0):
        return (
            f"{head}: {o.max_concurrency_total:g} concurrent requests at {o.max_model_len} "
            f"tokens vs {best.max_concurrency_total:g} on {best.pool}"
        )
    return (
        f"{head}: same capacity as {best.pool} but ${o.gpu_hour_usd_total:g}/h vs "
        f"${best.gpu_hour_usd_total:g}/h (or later by name)"
    )


def rank_pools(
    profiles: Sequence[DiscoveredProfile], model: str, knobs: Knobs, catalog: Catalog
) -> list[RankedPool]:
    """Plan the model on every pool and rank them: fitting first, then by capacity.

    Capacity is the plan's context (max_model_len) and then its total concurrency at that
    context; a --concurrency target, when set, ranks pools reaching it first; ties go to the
    cheaper pool per hour. Raises InputError for an unknown model.
    """
    catalog.checkpoint(model)  # an unknown model is the user's error, not a pool's
    ranked: list[RankedPool] = []
    for d in profiles:
        try:
            p = _plan(catalog, model, d.profile, knobs)
        except (PlanError, PinnedKnobError) as exc:
            ranked.append(RankedPool(d, None, _outcome_no_fit(d, exc)))
            continue
        ranked.append(RankedPool(d, p, _outcome_fit(d, p)))
    ranked.sort(key=lambda r: _rank_key(r, knobs.concurrency))
    if not ranked or ranked[0].plan is None:
        return ranked
    best = ranked[0].outcome
    reason = (
        f"chose pool {best.pool} ({best.profile}): {best.layout} serves "
        f"{best.max_concurrency_total:g} concurrent requests at {best.max_model_len} tokens"
    )
    if len(ranked) > 1:
        reason += f", the most capacity of {len(ranked)} pools"
    out = [ranked[0]._replace(outcome=best.model_copy(update={"reason": reason}))]
    for r in ranked[1:]:
        out.append(
            r._replace(
                outcome=r.outcome.model_copy(
                    update={"reason": _why_lost(r.outcome, best, knobs.concurrency)}
                )
            )
        )
    return out


def _plan(catalog: Catalog, model: str, hw: HardwareProfile, knobs: Knobs) -> Plan:
    from deploy_kit.planner import search as planner

    return planner.plan(catalog, model, hw, knobs, suggest=False)


def choose_pool(
    profiles: Sequence[DiscoveredProfile], model: str, knobs: Knobs, catalog: Catalog
) -> PoolChoice:
    """The pool with the most capacity for this model and knobs, why, and why the rest lost.

    Raises EnvironmentMissing when there is no GPU pool, PinnedKnobError when every pool breaks
    a pinned knob, PlanError when the model fits no pool.
    """
    if not profiles:
        raise EnvironmentMissing(
            "the cluster has no usable GPU node pool",
            hint="run 'deploy-kit discover' to see the nodes and why pools were skipped",
        )
    ranked = rank_pools(profiles, model, knobs, catalog)
    if ranked[0].plan is None:
        reasons = "; ".join(f"{r.pool.pool}: {r.outcome.reason}" for r in ranked)
        if all(r.outcome.failure == "pinned-knob" for r in ranked):
            raise PinnedKnobError(f"no node pool accepts the pinned knobs: {reasons}", rule="pool")
        raise PlanError(
            f"{model} fits none of the {len(ranked)} GPU pool(s): {reasons}",
            hint="try a shorter --context, another --weights, or a pool with more GPUs",
        )
    chosen = ranked[0]
    rejected = tuple(r.outcome for r in ranked[1:])
    return PoolChoice(chosen.pool.profile, chosen.outcome.reason, rejected)
