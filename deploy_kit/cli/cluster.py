"""Commands `discover`, `apply` and `status`: GPU inventory to profiles, bundles into a cluster."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from deploy_kit.errors import EnvironmentMissing, ExitCode, InputError

if TYPE_CHECKING:
    from deploy_kit.catalog import Catalog
    from deploy_kit.cluster import ApplyReport, DryRun
    from deploy_kit.cluster.objects import Bundle
    from deploy_kit.inventory import GpuObservation
    from deploy_kit.planner.pools import DiscoveredProfile, Discovery

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["apply", "discover", "discover_pools", "status"]


def _cluster_options(f: F) -> F:
    f = click.option("--context", help="kubeconfig context (default: the current one).")(f)
    return click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False),
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).",
    )(f)


def _output_options(f: F) -> F:
    f = click.option("--quiet", "-q", is_flag=True, help="Print nothing but results.")(f)
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["table", "json", "yaml"]),
        default="table",
        show_default=True,
        help="Output format.",
    )(f)


def _print(text: str) -> None:
    click.echo(text, nl=not text.endswith("\n"))


def _warn(lines: Sequence[str], quiet: bool) -> None:
    if not quiet:
        for line in lines:
            click.echo(f"warning: {line}", err=True)


# --- discover -----------------------------------------------------------------------------------


@click.command()
@_cluster_options
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Offline: the output of `kubectl get nodes -o json` (or -o yaml).",
)
@click.option("--local", "local_", is_flag=True, help="This machine's GPUs instead of a cluster.")
@click.option("--pool", help="Pool (or profile name) to write with -o yaml / --out.")
@_output_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the profile YAML (for plan --hardware) to this file.",
)
def discover(
    kubeconfig: str | None,
    context: str | None,
    from_file: Path | None,
    local_: bool,
    pool: str | None,
    output: str,
    quiet: bool,
    out: Path | None,
) -> None:
    """Hardware profiles from a cluster's GPU nodes, a node list file, or this machine."""
    from deploy_kit.catalog import load_catalog
    from deploy_kit.planner import pools as discovery

    sources = sum([from_file is not None, local_, kubeconfig is not None or context is not None])
    if sources > 1:
        raise click.UsageError("use one of --kubeconfig/--context, --from-file or --local")
    catalog = load_catalog()
    if local_:
        found = discovery.Discovery(
            profiles=(discovery.local_profile(_detect_local(), catalog),), total_nodes=1
        )
        origin = "this machine"
    else:
        found, origin = discover_pools(catalog, kubeconfig, context, from_file)
    _warn([*found.warnings, *(w for d in found.profiles for w in d.warnings)], quiet)
    _warn([s.reason for s in found.skipped], quiet)
    if not found.profiles:
        skipped = "; ".join(s.reason for s in found.skipped)
        raise EnvironmentMissing(
            f"no usable GPU node pool in {origin} ({found.total_nodes} nodes, "
            f"{len(found.cpu_only_nodes)} without GPUs)" + (f": {skipped}" if skipped else ""),
            hint="plan with --hardware PRESET or a hand-written hardware file instead",
        )
    chosen = _pick(found.profiles, pool, quiet)
    text = discovery.profile_yaml(chosen.profile, catalog=catalog, comment=_comment(chosen, origin))
    if out is not None:
        from deploy_kit.fsutil import atomic_write_text

        atomic_write_text(out, text)
        if not quiet:
            click.echo(f"wrote {out} (pool {chosen.pool}: {chosen.profile.name})", err=True)
        return  # the profile is in the file; print nothing more, as every --out does
    if output == "yaml":
        _print(text)
    elif output == "json":
        from deploy_kit.cli.output import to_json

        _print(to_json([d.model_dump(mode="json") for d in found.profiles]))
    else:
        _print(_discover_table(found, origin))


def _detect_local() -> list[GpuObservation]:
    try:
        module = importlib.import_module("deploy_kit.local.up")
    except ModuleNotFoundError as exc:
        if exc.name != "deploy_kit.local.up":
            raise
        module = None
    detect = getattr(module, "detect_gpus", None)
    if not callable(detect):
        raise EnvironmentMissing(
            "local GPU detection is unavailable in this build (deploy_kit.local.up.detect_gpus "
            "is missing)",
            hint="use --from-file nodes.json, or plan with --hardware",
        )
    return list(detect())


def discover_pools(
    catalog: Catalog,
    kubeconfig: str | None = None,
    context: str | None = None,
    from_file: Path | None = None,
) -> tuple[Discovery, str]:
    """(discovery.Discovery, where it came from) for a node-list file or the cluster.

    The cluster is found the standard ways (--kubeconfig, $KUBECONFIG, ~/.kube/config,
    in-cluster); for `plan --cluster`, pass the result's profiles to discovery.choose_pool.
    """
    from deploy_kit.inventory import parse_nodes_inventory
    from deploy_kit.planner import pools as discovery

    data, origin = _node_list(from_file, kubeconfig, context)
    return discovery.discover_inventory(parse_nodes_inventory(data), catalog), origin


def _node_list(
    from_file: Path | None, kubeconfig: str | None, context: str | None
) -> tuple[Any, str]:
    if from_file is not None:
        from deploy_kit.yamlio import MAX_FILE_BYTES, parse_yaml, read_text

        # JSON: `kubectl get nodes -o json` of a 5,000-node cluster (the largest Kubernetes
        # supports, kubernetes.io/docs/setup/best-practices/cluster-large/) runs to tens of MB
        # (estimate: ~10 KB per node). YAML is parsed within the shared 4 MiB bound: refuse a
        # bigger one before reading it.
        is_yaml = from_file.suffix in (".yaml", ".yml")
        limit = MAX_FILE_BYTES if is_yaml else 64 * 1024 * 1024
        text = read_text(from_file, what="node list", limit=limit)
        if is_yaml:
            return parse_yaml(text, origin=str(from_file)), str(from_file)
        return text, str(from_file)
    from deploy_kit import cluster

    conn = cluster.connect(kubeconfig, context)
    return cluster.list_nodes(conn), f"cluster {conn.context or conn.host}"


def _pick(
    profiles: Sequence[DiscoveredProfile], pool: str | None, quiet: bool
) -> DiscoveredProfile:
    if pool is not None:
        for d in profiles:
            if pool in (d.pool, d.profile.name):
                return d
        known = ", ".join(d.pool for d in profiles)
        raise InputError(f"no GPU pool named {pool!r}; pools: {known}")
    best = max(profiles, key=lambda d: d.profile.gpu.usable_bytes * d.profile.total_gpus)
    if len(profiles) > 1 and not quiet:
        click.echo(
            f"note: {len(profiles)} GPU pools; the profile file is pool {best.pool} (most GPU "
            "memory); choose another with --pool",
            err=True,
        )
    return best


def _comment(d: DiscoveredProfile, origin: str) -> str:
    lines = [f"discovered from {origin}, pool {d.pool}"]
    if d.nodes:
        lines.append(f"nodes: {', '.join(d.nodes)}")
    if d.node_selector:
        lines.append("node selector: " + ", ".join(f"{k}={v}" for k, v in d.node_selector.items()))
    lines += [f"note: {w}" for w in d.warnings]
    return "\n".join(lines)


def _discover_table(found: Discovery, origin: str) -> str:
    from deploy_kit.cli.output import table

    rows = [
        {
            "pool": d.pool,
            "profile": d.profile.name,
            "gpu": d.catalog_gpu or f"custom ({d.gpu_product})",
            "nodes": d.profile.nodes,
            "gpus/node": d.profile.gpus_per_node,
            "GiB/gpu": round(d.profile.gpu.usable_bytes / 1024**3, 1),
            "network": d.profile.network,
            "taints": " ".join(f"{t.key}:{t.effect}" for t in d.taints),
            "excluded": len(d.excluded_nodes) or "",
        }
        for d in found.profiles
    ]
    rows += [
        {"pool": s.pool, "profile": "(skipped)", "gpu": s.gpu_product or "?"} for s in found.skipped
    ]
    cols = list(rows[0])
    title = f"GPU node pools in {origin}"
    return table(rows, cols, title)


# --- apply --------------------------------------------------------------------------------------


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--dry-run",
    type=click.Choice(["none", "server", "client"]),
    default="none",
    show_default=True,
    help="server: the API server checks everything, nothing is stored; client: no cluster.",
)
@click.option("--namespace", "-n", help="Namespace for objects that name none.")
@click.option("--force-conflicts", is_flag=True, help="Take over fields another manager owns.")
@_cluster_options
@_output_options
def apply(
    bundle: Path,
    dry_run: str,
    namespace: str | None,
    force_conflicts: bool,
    kubeconfig: str | None,
    context: str | None,
    output: str,
    quiet: bool,
) -> None:
    """Server-side apply a rendered Kubernetes bundle (field manager deploy-kit), in order."""
    from deploy_kit import cluster
    from deploy_kit.cluster.objects import load_bundle

    objects = load_bundle(bundle)
    conn = None if dry_run == "client" else cluster.connect(kubeconfig, context)
    report = cluster.apply_bundle(
        objects,
        conn,
        namespace=namespace,
        dry_run=cast("DryRun", dry_run),
        force_conflicts=force_conflicts,
    )
    _print(_apply_text(report, output))
    if report.failure is not None:
        f = report.failure
        cls = EnvironmentMissing if f.exit_code == ExitCode.ENVIRONMENT else InputError
        raise cls(f.message, hint=f.hint)


def _apply_text(report: ApplyReport, output: str) -> str:
    from deploy_kit.cli.output import table, to_json, to_yaml

    if output == "json":
        return to_json(report.model_dump(mode="json"))
    if output == "yaml":
        return to_yaml(report.model_dump(mode="json"))
    rows = [r.model_dump(mode="json") for r in report.results]
    mode = {"server": " (server dry run)", "client": " (client dry run)"}.get(report.dry_run, "")
    title = f"apply {report.bundle}{mode}"
    text = table(rows, ["kind", "name", "namespace", "action", "detail"], title)
    summary = ", ".join(f"{n} {a}" for a, n in report.counts().items())
    return f"{text}{summary}\n"


# --- status -------------------------------------------------------------------------------------


@click.command()
@click.argument("bundle", required=False, type=click.Path(path_type=Path))
@click.option("--namespace", "-n", help="Namespace (default: the bundle's, else the context's).")
@click.option("--selector", "-l", multiple=True, help="Pod label selector (repeatable).")
@_cluster_options
@_output_options
def status(
    bundle: Path | None,
    namespace: str | None,
    selector: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    output: str,
    quiet: bool,
) -> None:
    """The workload's pods, readiness and vLLM startup stage (from pod status and events)."""
    from deploy_kit import cluster
    from deploy_kit.cluster.objects import bundle_selectors, load_bundle

    selectors = list(selector)
    if bundle is not None:
        b = load_bundle(bundle)
        selectors = selectors or bundle_selectors(b)
        namespace = namespace or b.namespace or _single_namespace(b)
    conn = cluster.connect(kubeconfig, context)
    st = cluster.workload_status(conn, namespace, selectors)
    if output in ("json", "yaml"):
        from deploy_kit.cli.output import to_json, to_yaml

        rows = [p.model_dump(mode="json") for p in st.pods]
        _print(to_json(rows) if output == "json" else to_yaml(rows))
        return
    if not st.pods:
        _print(f"no pods match {' or '.join(st.selectors)} in namespace {st.namespace}\n")
        return
    from deploy_kit.cli.output import table

    rows = [p.model_dump(mode="json") for p in st.pods]
    cols = ["pod", "node", "ready", "restarts", "stage", "detail"]
    _print(table(rows, cols, f"pods in {st.namespace} ({' or '.join(st.selectors)})"))


def _single_namespace(b: Bundle) -> str | None:
    written = {o.namespace for o in b.objects if o.namespace and o.kind != "Namespace"}
    return written.pop() if len(written) == 1 else None
