"""Cluster layer: kubeconfig, node listing, bundle apply (order, pre-checks, report), status.

No test reaches a cluster. The apply/status/list tests run the real `kubernetes` client (its
typed API classes and request serialisation) against `FakeApiServer`, a local in-memory fake
installed as the client's urllib3 pool manager: a local fake transport is used for this layer
only, as allowed; everything above it (discovery, planning) is tested on real fixtures.
"""

from __future__ import annotations

import copy
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from click.testing import CliRunner

from deploy_kit import cluster
from deploy_kit.cli import cluster as cli_cluster
from deploy_kit.cluster.objects import (
    apply_order,
    bundle_selectors,
    load_bundle,
    pod_status,
    secret_references,
)
from deploy_kit.errors import EnvironmentMissing, InputError
from tests.helpers import run_cli

FIXTURES = Path(__file__).parent / "fixtures"
K8S = FIXTURES / "k8s"
NODES = FIXTURES / "nodes"
MIXED = K8S / "bundle-mixed"
PLAIN = K8S / "bundle-plain"


# --- a fake API server behind the client's pool manager ----------------------------------------

_REASONS = {200: "OK", 201: "Created", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
_REASONS |= {422: "Unprocessable Entity", 500: "Internal Server Error"}

_GROUPS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("apps", "v1"): [
        {"name": "deployments", "kind": "Deployment", "namespaced": True},
        {"name": "deployments/status", "kind": "Deployment", "namespaced": True},
        {"name": "statefulsets", "kind": "StatefulSet", "namespaced": True},
    ],
    ("policy", "v1"): [
        {"name": "poddisruptionbudgets", "kind": "PodDisruptionBudget", "namespaced": True}
    ],
    ("leaderworkerset.x-k8s.io", "v1"): [
        {"name": "leaderworkersets", "kind": "LeaderWorkerSet", "namespaced": True},
        {"name": "leaderworkersets/scale", "kind": "Scale", "namespaced": True},
    ],
}

# Core (v1) resources: plural -> (kind, namespaced).
_CORE = {
    "namespaces": ("Namespace", False),
    "nodes": ("Node", False),
    "services": ("Service", True),
    "persistentvolumeclaims": ("PersistentVolumeClaim", True),
    "secrets": ("Secret", True),
    "configmaps": ("ConfigMap", True),
    "pods": ("Pod", True),
    "events": ("Event", True),
}

Key = tuple[str, str, str | None, str]  # group, plural, namespace, name
_VOLATILE = ("resourceVersion", "managedFields", "uid", "creationTimestamp", "generation")


class FakeResponse:
    """What urllib3 returns with preload_content=False, as far as the client reads it."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.reason = _REASONS.get(status, "Error")
        self.data = json.dumps(body).encode()
        self.headers = {"Content-Type": "application/json"}

    def getheaders(self) -> dict[str, str]:
        return self.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)


class FakeApiServer:
    """A tiny in-memory API server: discovery, GET, list, server-side apply PATCH."""

    def __init__(self) -> None:
        self.store: dict[Key, dict[str, Any]] = {}
        self.groups = copy.deepcopy(_GROUPS)
        self.log: list[tuple[str, str, dict[str, list[str]], dict[str, str]]] = []
        self.conflicts: set[Key] = set()
        self.failures: dict[tuple[str, Key], tuple[int, str]] = {}
        self.page_size: int | None = None
        self._version = 100
        self._clock = 0

    # seeding
    def add(self, group: str, plural: str, ns: str | None, body: dict[str, Any]) -> None:
        obj = copy.deepcopy(body)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._next())
        self.store[(group, plural, ns, obj["metadata"]["name"])] = obj

    def add_namespace(self, name: str) -> None:
        self.add(
            "",
            "namespaces",
            None,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )

    def add_secret(self, ns: str, name: str, keys: tuple[str, ...]) -> None:
        data = {k: "c2VjcmV0" for k in keys}
        self.add(
            "",
            "secrets",
            ns,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": ns},
                "data": data,
            },
        )

    def patches(self) -> list[tuple[str, dict[str, list[str]]]]:
        return [(path, q) for method, path, q, _ in self.log if method == "PATCH"]

    def _next(self) -> int:
        self._version += 1
        return self._version

    # the pool-manager interface the kubernetes REST client calls
    def request(
        self, method: str, url: str, body: Any = None, headers: Any = None, **_: Any
    ) -> FakeResponse:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.log.append((method, parts.path, query, dict(headers or {})))
        seg = [s for s in parts.path.split("/") if s]
        if seg[0] == "api":
            group, version, rest = "", seg[1], seg[2:]
        else:
            group, version, rest = seg[1], seg[2], seg[3:]
        if not rest:
            return self._discovery(group, version)
        ns: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        plural, name = rest[0], (rest[1] if len(rest) > 1 else None)
        if name is None:
            return self._list(group, plural, ns, query)
        key = (group, plural, ns, name)
        if (method, key) in self.failures:
            status, message = self.failures[(method, key)]
            return self._status(status, message)
        if method == "GET":
            obj = self.store.get(key)
            return FakeResponse(200, obj) if obj else self._status(404, f'"{name}" not found')
        if method == "PATCH":
            return self._apply(key, json.loads(body), query, dict(headers or {}))
        return self._status(405, "method not allowed")

    def _status(self, code: int, message: str) -> FakeResponse:
        reason = {404: "NotFound", 409: "Conflict", 403: "Forbidden"}.get(code, "Invalid")
        return FakeResponse(
            code,
            {
                "kind": "Status",
                "status": "Failure",
                "message": message,
                "reason": reason,
                "code": code,
            },
        )

    def _discovery(self, group: str, version: str) -> FakeResponse:
        if not group:
            return FakeResponse(
                200, {"kind": "APIResourceList", "groupVersion": version, "resources": []}
            )
        if (group, version) not in self.groups:
            return self._status(404, "the server could not find the requested resource")
        return FakeResponse(
            200,
            {
                "kind": "APIResourceList",
                "groupVersion": f"{group}/{version}",
                "resources": self.groups[(group, version)],
            },
        )

    def _list(
        self, group: str, plural: str, ns: str | None, query: dict[str, list[str]]
    ) -> FakeResponse:
        items = [
            o
            for (g, p, n, _), o in sorted(self.store.items(), key=lambda kv: kv[0][3])
            if g == group and p == plural and (ns is None or n == ns)
        ]
        for sel in query.get("labelSelector", []):
            want = dict(pair.split("=", 1) for pair in sel.split(","))
            items = [
                o
                for o in items
                if all(o["metadata"].get("labels", {}).get(k) == v for k, v in want.items())
            ]
        start = int(query.get("continue", ["0"])[0])
        size = self.page_size or len(items) or 1
        page = items[start : start + size]
        more = start + size < len(items)
        meta = {"resourceVersion": "1", **({"continue": str(start + size)} if more else {})}
        return FakeResponse(
            200, {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": page}
        )

    def _apply(
        self, key: Key, body: dict[str, Any], query: dict[str, list[str]], headers: dict[str, str]
    ) -> FakeResponse:
        assert headers.get("Content-Type") == "application/apply-patch+yaml"
        assert query.get("fieldManager") == ["deploy-kit"]
        ns = key[2]
        if ns is not None and ("", "namespaces", None, ns) not in self.store:
            return self._status(404, f'namespaces "{ns}" not found')
        if key in self.conflicts and query.get("force") != ["true"]:
            return self._status(
                409, 'Apply failed with 1 conflict: conflict with "helm": .spec.replicas'
            )
        self._clock += 1
        existing = self.store.get(key)
        applied = copy.deepcopy(body)
        meta = applied.setdefault("metadata", {})
        managed = [
            {
                "manager": "deploy-kit",
                "operation": "Apply",
                "time": f"2026-01-01T00:00:{self._clock:02d}Z",
            }
        ]
        if existing is None:
            meta.update(
                uid=f"uid-{self._clock}",
                resourceVersion=str(self._next()),
                creationTimestamp="2026-01-01T00:00:00Z",
                managedFields=managed,
            )
            status = 201
        else:
            old = {k: v for k, v in existing.items() if k != "status"}
            old_meta = {k: v for k, v in old["metadata"].items() if k not in _VOLATILE}
            same = {**old, "metadata": old_meta} == {**applied, "metadata": dict(meta)}
            for k in ("uid", "creationTimestamp"):
                meta[k] = existing["metadata"].get(k)
            meta["resourceVersion"] = (
                existing["metadata"]["resourceVersion"] if same else str(self._next())
            )
            meta["managedFields"] = managed  # a no-op apply still reports a new timestamp here
            status = 200
        applied["status"] = {"observedGeneration": 1}
        if query.get("dryRun") != ["All"]:
            self.store[key] = applied
        return FakeResponse(status, applied)


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    yield FakeApiServer()


def _conn(server: FakeApiServer, namespace: str = "default") -> cluster.Connection:
    from kubernetes import client

    cfg = client.Configuration(host="https://fake-cluster.invalid")
    api = client.ApiClient(configuration=cfg)
    api.rest_client.pool_manager = server  # type: ignore[assignment]
    return cluster.Connection(api=api, host=cfg.host, context="fake", namespace=namespace)


def _ready_cluster(fake: FakeApiServer, ns: str = "llm") -> cluster.Connection:
    fake.add_namespace(ns)
    fake.add_secret(ns, "hf-token", ("token",))
    fake.add_secret(ns, "vllm-api-key", ("key",))
    return _conn(fake, ns)


def _order(report: cluster.ApplyReport) -> list[str]:
    return [f"{r.kind}/{r.name}" for r in report.results]


# --- bundles ------------------------------------------------------------------------------------


def test_kustomization_bundle_reads_resources_in_listed_order() -> None:
    b = load_bundle(MIXED)
    assert [o.kind for o in b.objects] == [
        "Service",
        "PodDisruptionBudget",
        "Deployment",
        "LeaderWorkerSet",
        "PersistentVolumeClaim",
    ]
    assert all(o.namespace is None for o in b.objects)
    assert b.objects[3].source == "leaderworkerset.yaml#1"


def test_plain_bundle_reads_every_yaml_multi_doc_and_lists() -> None:
    b = load_bundle(PLAIN)
    assert [(o.kind, o.source) for o in b.objects] == [
        ("Deployment", "all.yaml#1"),
        ("Service", "all.yaml#2"),
        ("Namespace", "all.yaml#3"),
        ("ConfigMap", "config.yml#1.items[0]"),
    ]
    assert {o.namespace for o in b.objects if o.kind != "Namespace"} == {"llm"}


def test_apply_order_is_dependency_order() -> None:
    ordered = [o.kind for o in apply_order(load_bundle(MIXED).objects)]
    assert ordered == [
        "PersistentVolumeClaim",
        "Deployment",
        "LeaderWorkerSet",
        "Service",
        "PodDisruptionBudget",
    ]
    plain = [o.kind for o in apply_order(load_bundle(PLAIN).objects)]
    assert plain == ["Namespace", "ConfigMap", "Deployment", "Service"]


def test_secret_references_skip_optional_ones() -> None:
    refs = secret_references(load_bundle(MIXED).objects)
    assert {(r.name, r.key) for r in refs} == {
        ("vllm-api-key", "key"),
        ("hf-token", "token"),
        ("hf-token", None),
    }
    assert not any(r.name == "extra-ca-bundle" for r in refs)  # optional volume
    users = {r.used_by for r in refs if r.name == "hf-token"}
    assert any("leaderTemplate" in u for u in users) and any("envFrom" in u for u in users)
    # the Deployment's hf-token reference is optional: only its API key counts
    assert [r.name for r in refs if r.used_by.startswith("Deployment/")] == ["vllm-api-key"]


def test_bundle_selectors() -> None:
    assert bundle_selectors(load_bundle(MIXED)) == [
        "app.kubernetes.io/component=server,app.kubernetes.io/name=deepseek-v4-flash",
        "leaderworkerset.sigs.k8s.io/name=deepseek-v4-flash-lws",
    ]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "holds no YAML files"),
        ({"a.yaml": "just: a mapping\n"}, "not a Kubernetes object"),
        ({"a.yaml": "apiVersion: v1\nkind: Service\nmetadata: {}\n"}, "no metadata.name"),
        (
            {
                "a.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n---\n"
                "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
            },
            "defined twice",
        ),
        ({"a.yaml": "kind: [unclosed\n"}, "a.yaml"),
        ({"kustomization.yaml": "resources: [a.yaml]\npatches: []\n"}, "does not implement"),
        ({"kustomization.yaml": "resources: [https://example.com/x.yaml]\n"}, "not a local"),
        ({"kustomization.yaml": "resources: [missing.yaml]\n"}, "does not exist"),
    ],
)
def test_bad_bundles_are_input_errors(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(InputError, match=message):
        load_bundle(tmp_path)


def test_missing_bundle_says_how_to_render(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist") as info:
        load_bundle(tmp_path / "nope")
    assert "render" in (info.value.hint or "")


def test_render_output_dir_finds_its_kubernetes_subdir(tmp_path: Path) -> None:
    shutil.copytree(MIXED, tmp_path / "kubernetes")
    (tmp_path / "plan.json").write_text("{}")
    assert len(load_bundle(tmp_path).objects) == 5


def test_yaml_error_line_numbers_count_from_the_file_start(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [x\n"
    )
    with pytest.raises(InputError, match=r"line [67]"):
        load_bundle(tmp_path)


# --- apply: ordering, reporting -----------------------------------------------------------------


def test_first_apply_creates_everything_in_order(fake: FakeApiServer) -> None:
    conn = _ready_cluster(fake)
    report = cluster.apply_bundle(load_bundle(MIXED), conn, namespace="llm")
    assert report.failure is None
    assert _order(report) == [
        "PersistentVolumeClaim/deepseek-v4-flash-cache",
        "Deployment/deepseek-v4-flash",
        "LeaderWorkerSet/deepseek-v4-flash-lws",
        "Service/deepseek-v4-flash",
        "PodDisruptionBudget/deepseek-v4-flash",
    ]
    assert {r.action for r in report.results} == {"created"}
    assert {r.namespace for r in report.results} == {"llm"}
    paths = [p for p, _ in fake.patches()]
    assert paths == [
        "/api/v1/namespaces/llm/persistentvolumeclaims/deepseek-v4-flash-cache",
        "/apis/apps/v1/namespaces/llm/deployments/deepseek-v4-flash",
        "/apis/leaderworkerset.x-k8s.io/v1/namespaces/llm/leaderworkersets/deepseek-v4-flash-lws",
        "/api/v1/namespaces/llm/services/deepseek-v4-flash",
        "/apis/policy/v1/namespaces/llm/poddisruptionbudgets/deepseek-v4-flash",
    ]
    assert all(q["fieldManager"] == ["deploy-kit"] and "dryRun" not in q for _, q in fake.patches())
    stored = fake.store[("apps", "deployments", "llm", "deepseek-v4-flash")]
    assert stored["metadata"]["namespace"] == "llm"


def test_reapply_reports_unchanged_then_changed(fake: FakeApiServer, tmp_path: Path) -> None:
    conn = _ready_cluster(fake)
    cluster.apply_bundle(load_bundle(MIXED), conn, namespace="llm")
    again = cluster.apply_bundle(load_bundle(MIXED), conn, namespace="llm")
    assert [r.action for r in again.results] == ["unchanged"] * 5
    edited = tmp_path / "b"
    shutil.copytree(MIXED, edited)
    svc = edited / "service.yaml"
    svc.write_text(svc.read_text().replace("port: 8000", "port: 8080"))
    third = cluster.apply_bundle(load_bundle(edited), conn, namespace="llm")
    actions = {f"{r.kind}": r.action for r in third.results}
    assert actions["Service"] == "changed"
    assert actions["Deployment"] == "unchanged"
    assert third.counts() == {"unchanged": 4, "changed": 1}


def test_server_dry_run_sends_dry_run_and_stores_nothing(fake: FakeApiServer) -> None:
    conn = _ready_cluster(fake)
    before = set(fake.store)
    report = cluster.apply_bundle(load_bundle(MIXED), conn, namespace="llm", dry_run="server")
    assert report.dry_run == "server"
    assert [r.action for r in report.results] == ["created"] * 5
    assert all(q.get("dryRun") == ["All"] for _, q in fake.patches())
    assert set(fake.store) == before


def test_server_dry_run_with_a_new_namespace_does_not_send_its_objects(
    fake: FakeApiServer,
) -> None:
    report = cluster.apply_bundle(load_bundle(PLAIN), _conn(fake), dry_run="server")
    assert report.namespace == "llm"
    assert _order(report)[0] == "Namespace/llm"
    assert [r.action for r in report.results] == ["created"] * 4
    assert all("not sent" in r.detail for r in report.results[1:])
    assert [p for p, _ in fake.patches()] == ["/api/v1/namespaces/llm"]


def test_namespace_object_is_applied_before_namespaced_objects(fake: FakeApiServer) -> None:
    report = cluster.apply_bundle(load_bundle(PLAIN), _conn(fake))
    assert report.failure is None
    assert next(p for p, _ in fake.patches()) == "/api/v1/namespaces/llm"
    assert ("", "configmaps", "llm", "vllm-extra") in fake.store


def test_client_dry_run_needs_no_cluster() -> None:
    report = cluster.apply_bundle(load_bundle(MIXED), None, namespace="team-a")
    assert report.dry_run == "client"
    assert {r.action for r in report.results} == {"planned"}
    assert {r.namespace for r in report.results} == {"team-a"}


def test_namespace_flag_conflicting_with_manifest_is_refused(fake: FakeApiServer) -> None:
    with pytest.raises(InputError, match="is in namespace llm but --namespace other"):
        cluster.apply_bundle(load_bundle(PLAIN), _conn(fake), namespace="other")


# --- apply: pre-checks --------------------------------------------------------------------------


def test_missing_secret_fails_before_anything_is_applied(fake: FakeApiServer) -> None:
    fake.add_namespace("llm")
    fake.add_secret("llm", "hf-token", ("token",))
    with pytest.raises(EnvironmentMissing) as info:
        cluster.apply_bundle(load_bundle(MIXED), _conn(fake, "llm"))
    msg = info.value.message
    assert "Secret vllm-api-key" in msg and "not found in llm" in msg
    assert "kubectl -n llm create secret generic vllm-api-key" in msg
    assert "\n" not in msg
    assert fake.patches() == []
    assert info.value.exit_code == 4


def test_secret_without_the_referenced_key_is_reported(fake: FakeApiServer) -> None:
    fake.add_namespace("llm")
    fake.add_secret("llm", "hf-token", ("token",))
    fake.add_secret("llm", "vllm-api-key", ("api-key",))
    with pytest.raises(EnvironmentMissing, match="Secret vllm-api-key has no key 'key'"):
        cluster.apply_bundle(load_bundle(MIXED), _conn(fake, "llm"))
    assert fake.patches() == []


def test_missing_lws_crd_fails_clearly(fake: FakeApiServer) -> None:
    del fake.groups[("leaderworkerset.x-k8s.io", "v1")]
    conn = _ready_cluster(fake)
    with pytest.raises(EnvironmentMissing) as info:
        cluster.apply_bundle(load_bundle(MIXED), conn)
    assert "LeaderWorkerSet (leaderworkerset.x-k8s.io/v1) is not served" in info.value.message
    assert "install LeaderWorkerSet" in info.value.message
    assert fake.patches() == []


def test_missing_namespace_fails_clearly(fake: FakeApiServer) -> None:
    with pytest.raises(EnvironmentMissing, match="namespace ghost does not exist"):
        cluster.apply_bundle(load_bundle(MIXED), _conn(fake), namespace="ghost")


def test_every_problem_is_listed_at_once(fake: FakeApiServer) -> None:
    del fake.groups[("leaderworkerset.x-k8s.io", "v1")]
    fake.add_namespace("llm")
    with pytest.raises(EnvironmentMissing, match=r"pre-checks failed \(3\)"):
        cluster.apply_bundle(load_bundle(MIXED), _conn(fake, "llm"))


# --- apply: failures part-way ------------------------------------------------------------------


def test_conflict_stops_apply_and_suggests_force(fake: FakeApiServer) -> None:
    conn = _ready_cluster(fake)
    fake.conflicts.add(("apps", "deployments", "llm", "deepseek-v4-flash"))
    report = cluster.apply_bundle(load_bundle(MIXED), conn)
    assert [r.action for r in report.results] == [
        "created",
        "failed",
        "skipped",
        "skipped",
        "skipped",
    ]
    assert report.failure is not None
    assert report.failure.exit_code == 2
    assert "--force-conflicts" in (report.failure.hint or "")
    assert "conflict" in report.results[1].detail
    forced = cluster.apply_bundle(load_bundle(MIXED), conn, force_conflicts=True)
    assert forced.failure is None
    assert all(q.get("force") == ["true"] for _, q in fake.patches()[-5:])


def test_invalid_object_is_an_input_failure(fake: FakeApiServer) -> None:
    conn = _ready_cluster(fake)
    key = ("", "services", "llm", "deepseek-v4-flash")
    fake.failures[("PATCH", key)] = (422, 'Service "deepseek-v4-flash" is invalid: spec.ports')
    report = cluster.apply_bundle(load_bundle(MIXED), conn)
    assert report.failure is not None and report.failure.exit_code == 2
    assert "is invalid" in report.failure.message
    assert report.results[-1].action == "skipped"


def test_forbidden_is_an_environment_failure(fake: FakeApiServer) -> None:
    conn = _ready_cluster(fake)
    key = ("", "persistentvolumeclaims", "llm", "deepseek-v4-flash-cache")
    fake.failures[("GET", key)] = (403, "persistentvolumeclaims is forbidden")
    report = cluster.apply_bundle(load_bundle(MIXED), conn)
    assert report.failure is not None and report.failure.exit_code == 4
    assert "forbidden" in report.failure.message


# --- nodes and status ---------------------------------------------------------------------------


def test_list_nodes_pages_and_returns_kubectl_shape(fake: FakeApiServer) -> None:
    from deploy_kit.inventory import parse_nodes_inventory

    raw = json.loads((NODES / "nodes-mixed.json").read_text())
    for item in raw["items"]:
        fake.add("", "nodes", None, item)
    fake.page_size = 2
    listed = cluster.list_nodes(_conn(fake))
    assert listed["kind"] == "List"
    assert len(listed["items"]) == len(raw["items"])
    assert len([m for m, p, _, _ in fake.log if p == "/api/v1/nodes"]) == 3
    assert parse_nodes_inventory(listed) == parse_nodes_inventory(raw)


def _pod(name: str, **status: Any) -> dict[str, Any]:
    labels = {"leaderworkerset.sigs.k8s.io/name": "deepseek-v4-flash-lws"}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": status.pop("node", None), "containers": [{"name": "vllm"}]},
        "status": status,
    }


def _running(started: bool, ready: bool) -> dict[str, Any]:
    return {
        "name": "vllm",
        "ready": ready,
        "started": started,
        "restartCount": 0,
        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
    }


def _event(pod: str, reason: str, message: str, when: str) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Pod", "name": pod},
        "reason": reason,
        "message": message,
        "lastTimestamp": when,
        "type": "Warning",
    }


def test_pod_stages() -> None:
    unsched = _pod(
        "a",
        phase="Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            }
        ],
    )
    s = pod_status(unsched)
    assert (s.stage, s.ready, s.node) == ("unschedulable", "0/1", None)
    assert "Insufficient nvidia.com/gpu" in s.detail

    pulling = _pod(
        "b",
        phase="Pending",
        node="n1",
        conditions=[{"type": "PodScheduled", "status": "True"}],
        containerStatuses=[
            {
                "name": "vllm",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}},
            }
        ],
    )
    ev = [_event("b", "Pulling", 'Pulling image "vllm/vllm-openai:v0.33.0"', "2026-01-01T00:01Z")]
    assert pod_status(pulling, ev).stage == "pulling image"
    mount = [_event("b", "FailedMount", 'secret "hf-token" not found', "2026-01-01T00:02Z")]
    s = pod_status(pulling, mount)
    assert s.stage == "volume mount failed" and "hf-token" in s.detail

    bad_image = _pod(
        "c",
        phase="Pending",
        node="n1",
        containerStatuses=[
            {
                "name": "vllm",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}},
            }
        ],
    )
    assert pod_status(bad_image).stage == "image pull failed"

    loading = _pod("d", phase="Running", node="n1", containerStatuses=[_running(False, False)])
    probe = [
        _event("d", "Unhealthy", "Startup probe failed: connection refused", "2026-01-01T00:05Z")
    ]
    s = pod_status(loading, probe)
    assert s.stage == "loading model" and "Startup probe failed" in s.detail

    serving = _pod("e", phase="Running", node="n1", containerStatuses=[_running(True, True)])
    assert (pod_status(serving).stage, pod_status(serving).ready) == ("serving", "1/1")

    crash = _pod(
        "f",
        phase="Running",
        node="n1",
        containerStatuses=[
            {
                "name": "vllm",
                "ready": False,
                "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            }
        ],
    )
    s = pod_status(crash)
    assert s.stage == "crash loop" and "OOMKilled" in s.detail and s.restarts == 3

    gone = _pod("g", phase="Running")
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert pod_status(gone).stage == "terminating"


def test_workload_status_uses_bundle_selectors_and_events(fake: FakeApiServer) -> None:
    conn = _ready_cluster(fake)
    fake.add(
        "",
        "pods",
        "llm",
        _pod("lws-0", phase="Running", node="n1", containerStatuses=[_running(False, False)]),
    )
    fake.add(
        "",
        "pods",
        "llm",
        _pod("lws-0-1", phase="Running", node="n2", containerStatuses=[_running(True, True)]),
    )
    fake.add(
        "",
        "pods",
        "llm",
        {"metadata": {"name": "other", "labels": {"app": "x"}}, "status": {"phase": "Running"}},
    )
    fake.add(
        "",
        "events",
        "llm",
        {
            "metadata": {"name": "e1"},
            **_event("lws-0", "Unhealthy", "Startup probe failed: HTTP 503", "2026-01-01T00:05Z"),
        },
    )
    st = cluster.workload_status(conn, None, bundle_selectors(load_bundle(MIXED)))
    assert [(p.pod, p.stage) for p in st.pods] == [
        ("lws-0", "loading model"),
        ("lws-0-1", "serving"),
    ]
    assert "HTTP 503" in st.pods[0].detail
    assert not st.ready


# --- kubeconfig loading -------------------------------------------------------------------------

_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{server}", insecure-skip-tls-verify: true}}
contexts:
- name: main
  context: {{cluster: c, user: u, namespace: llm}}
- name: other
  context: {{cluster: c, user: u}}
current-context: main
users:
- name: u
  user: {{token: not-a-real-token}}
"""


def _kubeconfig(tmp_path: Path, server: str = "https://127.0.0.1:6443") -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(_KUBECONFIG.format(server=server))
    return path


@pytest.fixture
def no_cluster_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return home


def test_connect_reads_flag_context_and_namespace(tmp_path: Path, no_cluster_env: Path) -> None:
    conn = cluster.connect(str(_kubeconfig(tmp_path)))
    assert (conn.host, conn.context, conn.namespace) == ("https://127.0.0.1:6443", "main", "llm")
    other = cluster.connect(str(_kubeconfig(tmp_path)), context="other")
    assert (other.context, other.namespace) == ("other", "default")


def test_connect_uses_kubeconfig_env_then_home(
    tmp_path: Path, no_cluster_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path, "https://10.0.0.1:6443")))
    assert cluster.connect().host == "https://10.0.0.1:6443"
    monkeypatch.delenv("KUBECONFIG")
    (no_cluster_env / ".kube").mkdir()
    _kubeconfig(no_cluster_env / ".kube", "https://10.0.0.2:6443").rename(
        no_cluster_env / ".kube" / "config"
    )
    assert cluster.connect().host == "https://10.0.0.2:6443"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"kubeconfig": "/nonexistent/kubeconfig"}, "does not exist"),
        ({}, "no kubeconfig"),
        ({"context": "nope"}, "nope"),
    ],
)
def test_connect_failures_are_environment_missing(
    tmp_path: Path, no_cluster_env: Path, args: dict[str, str], message: str
) -> None:
    if "context" in args:
        args = {**args, "kubeconfig": str(_kubeconfig(tmp_path))}
    with pytest.raises(EnvironmentMissing, match=message) as info:
        cluster.connect(**args)
    assert "\n" not in info.value.message


def test_in_cluster_config_without_token_is_environment_missing(
    no_cluster_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(EnvironmentMissing, match="in-cluster"):
        cluster.connect()


def test_transport_failure_is_one_line_environment_missing(fake: FakeApiServer) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        cause = urllib3.exceptions.NewConnectionError(
            None,  # type: ignore[arg-type]
            "Failed to establish a new connection: [Errno 111] Connection refused",
        )
        raise urllib3.exceptions.MaxRetryError(None, "/api/v1/nodes", cause)  # type: ignore[arg-type]

    fake.request = refuse  # type: ignore[method-assign]
    with pytest.raises(EnvironmentMissing, match=r"cannot reach .*Connection refused") as info:
        cluster.list_nodes(_conn(fake))
    assert "\n" not in info.value.message


# --- CLI ----------------------------------------------------------------------------------------


def _free_local_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.usefixtures("no_cluster_env")
def test_cli_without_a_cluster_exits_4_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A kubeconfig whose API server is a closed local port: the connection is refused.
    kc = _kubeconfig(tmp_path, f"https://127.0.0.1:{_free_local_port()}")
    for args in (
        ["discover", "--kubeconfig", str(kc)],
        ["apply", str(MIXED), "--kubeconfig", str(kc)],
        ["apply", str(MIXED)],
        ["status", "--kubeconfig", str(kc)],
        ["discover"],
    ):
        code, out, err = run_cli(capsys, *args)
        assert code == 4, (args, err)
        assert err.startswith("error: ") and len(err.splitlines()[0]) < 300
        assert out == ""


def test_cli_apply_reports_per_object(
    fake: FakeApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = _ready_cluster(fake)
    monkeypatch.setattr(cluster, "connect", lambda *a, **k: conn)
    code, out, _ = run_cli(capsys, "apply", str(MIXED), "-n", "llm")
    assert code == 0
    assert "5 created" in out and "LeaderWorkerSet" in out
    code, out, _ = run_cli(capsys, "apply", str(MIXED), "-n", "llm", "-o", "json")
    data = json.loads(out)
    assert {r["action"] for r in data["results"]} == {"unchanged"}
    assert data["field_manager"] == "deploy-kit"


def test_cli_apply_failure_prints_report_then_exits(
    fake: FakeApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = _ready_cluster(fake)
    fake.conflicts.add(("apps", "deployments", "llm", "deepseek-v4-flash"))
    monkeypatch.setattr(cluster, "connect", lambda *a, **k: conn)
    code, out, err = run_cli(capsys, "apply", str(MIXED))
    assert code == 2
    assert "failed" in out and "skipped" in out
    assert "--force-conflicts" in err


def test_cli_apply_precheck_and_bad_bundle_exit_codes(
    fake: FakeApiServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(cluster, "connect", lambda *a, **k: _conn(fake, "llm"))
    fake.add_namespace("llm")
    code, _, err = run_cli(capsys, "apply", str(MIXED))
    assert code == 4 and "Secret" in err
    code, _, err = run_cli(capsys, "apply", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in err
    code, out, _ = run_cli(capsys, "apply", str(MIXED), "--dry-run=client")
    assert code == 0 and "5 planned" in out


def test_cli_status(
    fake: FakeApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = _ready_cluster(fake)
    monkeypatch.setattr(cluster, "connect", lambda *a, **k: conn)
    code, out, _ = run_cli(capsys, "status", str(MIXED))
    assert code == 0 and "no pods match" in out
    fake.add(
        "",
        "pods",
        "llm",
        _pod("lws-0", phase="Running", node="n1", containerStatuses=[_running(True, True)]),
    )
    code, out, _ = run_cli(capsys, "status", str(MIXED), "-o", "json")
    assert code == 0
    assert json.loads(out)[0]["stage"] == "serving"


def test_cli_discover_from_a_fake_cluster(
    fake: FakeApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for item in json.loads((NODES / "nodes-h100x2.json").read_text())["items"]:
        fake.add("", "nodes", None, item)
    monkeypatch.setattr(cluster, "connect", lambda *a, **k: _conn(fake))
    code, out, _ = run_cli(capsys, "discover", "--context", "fake", "-o", "yaml")
    assert code == 0
    assert "name: 2x8xH100" in out and "gpu: h100-sxm" in out


def test_commands_are_click_commands() -> None:
    runner = CliRunner()
    for name in ("discover", "apply", "status"):
        result = runner.invoke(getattr(cli_cluster, name), ["--help"])
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("hardware", "workload"), [("8xH200", "Deployment"), ("2x8xH100", "LeaderWorkerSet")]
)
def test_rendered_bundle_applies_in_order(
    fake: FakeApiServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    hardware: str,
    workload: str,
) -> None:
    """What `deploy-kit render --target kubernetes` writes goes through apply unchanged."""
    out_dir = str(tmp_path / "out")
    code, _, err = run_cli(
        capsys, "render", "--hardware", hardware, "--target", "kubernetes", "--out", out_dir, "-q"
    )
    assert code == 0, err
    bundle = load_bundle(tmp_path / "out")  # finds out/kubernetes
    assert any(o.kind == workload for o in bundle.objects)
    fake.groups[("networking.k8s.io", "v1")] = [
        {"name": "networkpolicies", "kind": "NetworkPolicy", "namespaced": True}
    ]
    report = cluster.apply_bundle(bundle, _ready_cluster(fake, "default"))
    assert report.failure is None
    kinds = [r.kind for r in report.results]
    assert kinds.index(workload) < kinds.index("Service")
    assert {r.action for r in report.results} == {"created"}
    assert bundle_selectors(bundle)
