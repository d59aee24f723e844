"""Domain rules for compose: multi-node networking, interface variables, unjoined servers, ranks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from deploy_kit.validate.findings import Finding
from deploy_kit.validate.invocations.base import Container, symbolic
from deploy_kit.validate.rules.facts import Facts, finding
from deploy_kit.vllm import argv as vllm


def check(f: Facts) -> list[Finding]:
    """DK115 and DK116 for one compose service that is a node of a multi-node engine."""
    c = f.container
    if c.source != "compose" or not f.multi_node:
        return []
    out: list[Finding] = []
    if not c.host_network:
        out.append(
            finding(
                "DK115",
                c.where,
                f"{c.label}: one node of a multi-node engine on "
                "a bridge network; NCCL, Gloo and the rendezvous ports must reach "
                "the other machines",
            )
        )
    if c.env_complete:
        missing = [n for n in vllm.NETWORK_IF_ENV if not c.env_value(n)[0]]
        if missing:
            out.append(
                finding(
                    "DK116",
                    c.where,
                    f"{c.label}: {', '.join(missing)} not set; "
                    "NCCL/Gloo guess the interface and can hang at start-up",
                )
            )
    return out


def check_groups(facts: Sequence[Facts]) -> list[Finding]:
    """DK117 per compose file, DK103 rank collisions per compose project."""
    compose = [f for f in facts if f.container.source == "compose"]
    return _unjoined(compose) + _rank_sets(compose)


def _unjoined(facts: Sequence[Facts]) -> list[Finding]:
    by_file: dict[str, list[Facts]] = defaultdict(list)
    for f in facts:
        if not f.multi_node:
            by_file[f.container.file].append(f)
    out: list[Finding] = []
    for members in by_file.values():
        by_model: dict[str, list[Facts]] = defaultdict(list)
        for f in members:
            by_model[f.model or "?"].append(f)
        for model, servers in by_model.items():
            if len(servers) < 2 or _disjoint_devices(servers):
                continue
            first = servers[0].container.service
            for other in servers[1:]:
                if _alternatives(servers[0].container, other.container):
                    continue
                out.append(
                    finding(
                        "DK117",
                        other.container.where,
                        f"service {first} and "
                        f"service {other.container.service} each start their own "
                        f"vLLM engine for {model}; nothing joins them into one",
                    )
                )
    return out


def _alternatives(a: Container, b: Container) -> bool:
    """Two services compose cannot run together, as in files that offer a service per
    accelerator and let the reader pick one: one literal container_name (the second fails
    with "container name already in use") or one published host port (the second cannot bind
    it; the same expression, `${PORT:-8008}`, is the same port)."""
    name_a, name_b = a.extra.get("container_name", ""), b.extra.get("container_name", "")
    if name_a and name_a == name_b and not symbolic(name_a):
        return True
    ports_a = set(filter(None, a.extra.get("host_ports", "").split(",")))
    ports_b = set(filter(None, b.extra.get("host_ports", "").split(",")))
    return bool(ports_a & ports_b)


def _disjoint_devices(servers: Sequence[Facts]) -> bool:
    seen: set[str] = set()
    for f in servers:
        gpus = f.container.gpus
        if gpus is None or gpus.device_ids is None:
            return False
        if seen & set(gpus.device_ids):
            return False
        seen |= set(gpus.device_ids)
    return True


def _rank_sets(facts: Sequence[Facts]) -> list[Finding]:
    groups: dict[tuple[str, str], list[Facts]] = defaultdict(list)
    for f in facts:
        if not f.multi_node:
            continue
        c = f.container
        project = c.extra.get("project") or c.file
        groups[(str(Path(c.file).parent), project)].append(f)
    out: list[Finding] = []
    for members in groups.values():
        out += _collisions(members)
    return out


def _collisions(members: Sequence[Facts]) -> list[Finding]:
    seen: dict[int, Facts] = {}
    out: list[Finding] = []
    for f in sorted(members, key=lambda m: (m.container.file, m.container.service)):
        dp_mode = (f.nnodes or 1) <= 1
        flag = vllm.F_DP_START_RANK if dp_mode else vllm.F_NODE_RANK
        rank = f.int_flag(flag, 0)
        if rank is None:
            continue
        if dp_mode and f.dp_local and rank % f.dp_local:
            out.append(
                finding(
                    "DK103",
                    f.call.where_of(flag),
                    f"{f.container.label}: "
                    f"{flag} {rank} is not a multiple of the {f.dp_local} local DP "
                    "ranks per node",
                )
            )
        if f.headless and rank == 0:
            out.append(
                finding(
                    "DK103",
                    f.call.where_of(flag),
                    f"{f.container.label}: a {vllm.F_HEADLESS} node with {flag} 0 (the head's)",
                )
            )
            continue
        other = seen.get(rank)
        if other is not None:
            out.append(
                finding(
                    "DK103",
                    f.call.where_of(flag),
                    f"{f.container.label}: "
                    f"{flag} {rank} is also used by {other.container.label} in "
                    f"{other.container.file}",
                )
            )
        seen[rank] = f
    return out
