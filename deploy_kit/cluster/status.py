"""Workload status and node listing over the kubernetes API (connecting is in client.py,
applying a bundle in apply.py; the package's __init__ is their one public face)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from deploy_kit.cluster.client import (
    Connection,
    HttpStatusError,
    api_call,
    fatal_error,
    json_body,
)
from deploy_kit.cluster.objects import PodStatus, as_map, as_maps, pod_status
from deploy_kit.spec import Base

__all__ = ["DEFAULT_SELECTOR", "WorkloadStatus", "list_nodes", "workload_status"]

# Pods of a rendered bundle carry the chart's labels; `status` falls back to this selector.
DEFAULT_SELECTOR = "app.kubernetes.io/part-of=deepseek-v4"


class WorkloadStatus(Base):
    """The pods of a deployment."""

    namespace: str = Field(description="Namespace looked in")
    selectors: tuple[str, ...] = Field(description="Label selectors used")
    pods: tuple[PodStatus, ...] = Field(description="Matching pods, by name")

    @property
    def ready(self) -> bool:
        return bool(self.pods) and all(p.stage == "serving" for p in self.pods)


def list_nodes(conn: Connection) -> dict[str, Any]:
    """Every node, shaped like `kubectl get nodes -o json` (a List with items)."""
    from kubernetes import client

    core = client.CoreV1Api(conn.api)
    items: list[Any] = []
    token: str | None = None
    while True:
        try:
            page = json_body(
                api_call(
                    conn,
                    "list nodes",
                    core.list_node,
                    limit=500,
                    _continue=token,
                    _preload_content=False,
                )
            )
        except HttpStatusError as err:
            raise fatal_error(conn, "list nodes", err) from None
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            return {"apiVersion": "v1", "kind": "List", "items": items}


def workload_status(
    conn: Connection, namespace: str | None, selectors: Sequence[str]
) -> WorkloadStatus:
    """Pods matching any of the selectors, with their stage from status and events."""
    from kubernetes import client

    core = client.CoreV1Api(conn.api)
    ns = namespace or conn.namespace
    sels = tuple(selectors) or (DEFAULT_SELECTOR,)
    pods: dict[str, Mapping[str, Any]] = {}
    try:
        for sel in sels:
            doc = json_body(
                api_call(
                    conn,
                    "list pods",
                    core.list_namespaced_pod,
                    ns,
                    label_selector=sel,
                    _preload_content=False,
                )
            )
            for p in as_maps(doc.get("items")):
                pods[str(as_map(p.get("metadata")).get("name"))] = p
        events: dict[str, list[Mapping[str, Any]]] = {}
        if pods:
            doc = json_body(
                api_call(
                    conn, "list events", core.list_namespaced_event, ns, _preload_content=False
                )
            )
            for e in as_maps(doc.get("items")):
                inv = as_map(e.get("involvedObject"))
                if inv.get("kind") == "Pod":
                    events.setdefault(str(inv.get("name")), []).append(e)
    except HttpStatusError as err:
        raise fatal_error(conn, f"read pods in {ns}", err) from None
    rows = tuple(pod_status(pods[n], events.get(n, ())) for n in sorted(pods))
    return WorkloadStatus(namespace=ns, selectors=sels, pods=rows)
