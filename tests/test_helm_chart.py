"""charts/deepseek-v4 with the real helm binary, and its values contract (HelmValues)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from deploy_kit.renderer.helm_values import HelmValues, consistency_problems
from deploy_kit.validate.structural.crd import BUNDLED_CRD_DIR
from tests.helpers import one, walk

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "deepseek-v4"
FIXTURES = REPO / "tests" / "fixtures" / "helm"
MULTI_NODE = FIXTURES / "multinode-pro-2x8-dp16.yaml"
CRDS = BUNDLED_CRD_DIR
LWS_API = "leaderworkerset.x-k8s.io/v1"

Doc = dict[str, Any]


# ---------------------------------------------------------------- helpers


def helm_binary() -> Path | None:
    override = os.environ.get("DEPLOY_KIT_HELM")
    path = Path(override) if override else REPO / ".tools" / "bin" / "helm"
    return path if path.is_file() and os.access(path, os.X_OK) else None


@pytest.fixture(scope="module")
def helm() -> Path:
    path = helm_binary()
    if path is None:
        pytest.skip("helm is not installed: run `make tools`")
    return path


def run_helm(helm: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [str(helm), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def template(helm: Path, *args: str | Path) -> list[Doc]:
    proc = run_helm(helm, "template", "rel", CHART, "--namespace", "llm", *args)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def template_error(helm: Path, *args: str | Path) -> str:
    proc = run_helm(helm, "template", "rel", CHART, *args)
    assert proc.returncode != 0, "helm template should have refused these values"
    return proc.stderr


def write_values(tmp_path: Path, values: Doc, name: str = "values.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return path


def vllm_container(pod_spec: Doc) -> Doc:
    containers = pod_spec["containers"]
    assert [c["name"] for c in containers] == ["vllm"]
    result: Doc = containers[0]
    return result


def coalesce(base: Any, override: Any) -> Any:
    """Helm's merge of a values file over the chart defaults (maps merge, lists replace)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = coalesce(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(override)


def chart_defaults() -> Doc:
    data: Doc = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    return data


def multi_node_values() -> Doc:
    data: Doc = yaml.safe_load(MULTI_NODE.read_text(encoding="utf-8"))
    return data


def strict_crd_schema(node: Any) -> Any:
    """An openAPIV3Schema made strict: unknown fields are errors, OpenAPI extras mapped."""
    if isinstance(node, list):
        return [strict_crd_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict_crd_schema(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def crd_errors(doc: Doc, crd_file: str) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    path = CRDS / crd_file
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    version = next(v for v in crd["spec"]["versions"] if doc["apiVersion"].endswith(v["name"]))
    schema = strict_crd_schema(version["schema"]["openAPIV3Schema"])
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def labels_of(doc: Doc) -> dict[str, str]:
    labels: dict[str, str] = doc["metadata"].get("labels", {})
    return labels


COMMON_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)


# ---------------------------------------------------------------- contract (no helm needed)


def test_values_yaml_is_the_contract_default() -> None:
    assert HelmValues.model_validate(chart_defaults()) == HelmValues()
    assert HelmValues().to_values() == chart_defaults()


def test_multi_node_fixture_satisfies_the_contract() -> None:
    values = HelmValues.model_validate(coalesce(chart_defaults(), multi_node_values()))
    assert values.parallelism.nodes == 2
    assert consistency_problems(values) == []


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"parallelism": {"gpusPerNode": 4}}, "gpusPerNode 4"),
        ({"image": {"tag": "latest"}}, "latest"),
        ({"model": {"offline": True}, "modelCache": {"type": "emptyDir"}}, "model.offline"),
        ({"vllm": {"env": [{"name": "VLLM_API_KEY", "value": "x"}]}}, "VLLM_API_KEY"),
        ({"parallelism": {"expert": False}}, "--enable-expert-parallel"),
        ({"replicas": 2}, "ReadWriteMany"),
    ],
)
def test_contract_rejects_inconsistent_values(override: Doc, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle.replace(".", r"\.")):
        HelmValues.model_validate(coalesce(chart_defaults(), override))


def test_contract_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        HelmValues.model_validate({"parallelism": {"tensors": 8}})


def test_contract_models_are_frozen_and_described() -> None:
    values = HelmValues()
    with pytest.raises(ValidationError):
        values.replicas = 3  # type: ignore[misc]
    schema = HelmValues.model_json_schema()
    missing = [
        f"{model}.{name}"
        for model, body in [("HelmValues", schema), *schema["$defs"].items()]
        for name, prop in body.get("properties", {}).items()
        if "description" not in prop
    ]
    assert missing == []


def test_schema_file_has_not_drifted() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_helm_schema.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------- helm: lint


@pytest.mark.tools
def test_lint_strict_default_values(helm: Path) -> None:
    proc = run_helm(helm, "lint", "--strict", CHART)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout


@pytest.mark.tools
def test_lint_strict_multi_node_values(helm: Path) -> None:
    # helm lint cannot take --api-versions; skipApiCheck lets it render (and lint) the LWS.
    proc = run_helm(
        helm, "lint", "--strict", CHART, "-f", MULTI_NODE, "--set", "lws.skipApiCheck=true"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout
    assert "funcMap fail" not in proc.stderr, proc.stderr


# ---------------------------------------------------------------- helm: single node


@pytest.fixture(scope="module")
def single(helm: Path) -> list[Doc]:
    return template(helm)


@pytest.mark.tools
def test_single_node_is_a_deployment(single: list[Doc]) -> None:
    kinds = sorted(d["kind"] for d in single)
    assert kinds == [
        "Deployment",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "Pod",  # the helm test hook (deploy-kit smoke), tests/test_smoke_helm.py
        "PodDisruptionBudget",
        "Service",
    ]
    for doc in single:
        assert all(k in labels_of(doc) for k in COMMON_LABELS), doc["kind"]


@pytest.mark.tools
def test_single_node_places_the_plan(single: list[Doc]) -> None:
    values = HelmValues()
    deployment = one(single, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    ctr = vllm_container(pod)
    assert ctr["command"] == values.vllm.leader.command
    assert ctr["args"] == values.vllm.leader.args
    assert ctr["image"] == "vllm/vllm-openai:v0.33.0"
    for kind in ("limits", "requests"):
        assert ctr["resources"][kind]["nvidia.com/gpu"] == values.parallelism.gpusPerNode == 8
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["enableServiceLinks"] is False
    env = {e["name"]: e for e in ctr["env"]}
    assert env["VLLM_ENGINE_READY_TIMEOUT_S"]["value"] == "3600"
    assert env["HF_HOME"]["value"] == values.modelCache.mountPath
    assert "VLLM_HOST_IP" not in env and "HF_HUB_OFFLINE" not in env


@pytest.mark.tools
def test_single_node_probes_shm_and_cache(single: list[Doc]) -> None:
    pod = one(single, "Deployment")["spec"]["template"]["spec"]
    ctr = vllm_container(pod)
    startup = ctr["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] == 3600
    for probe in ("readinessProbe", "livenessProbe"):
        assert ctr[probe]["httpGet"]["path"] == "/health"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "9Gi"}
    mounts = {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
    assert mounts["dshm"] == "/dev/shm"
    claim = one(single, "PersistentVolumeClaim")
    assert volumes["model-cache"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.tools
def test_single_node_security(single: list[Doc]) -> None:
    assert not [d for d in single if d["kind"] == "Secret"]
    pod = one(single, "Deployment")["spec"]["template"]["spec"]
    ctr = vllm_container(pod)
    env = {e["name"]: e for e in ctr["env"]}
    for name, secret in (("VLLM_API_KEY", "vllm-api-key"), ("HF_TOKEN", "hf-token")):
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == secret
    sc = ctr["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    images = [n["image"] for n in walk(single) if isinstance(n, dict) and "image" in n]
    assert images and all(":latest" not in i and ":" in i for i in images)


@pytest.mark.tools
def test_single_node_service_selects_the_pods(single: list[Doc]) -> None:
    service = one(single, "Service")
    pod_labels = labels_of(one(single, "Deployment")["spec"]["template"])
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]
    policy = one(single, "NetworkPolicy")
    assert policy["spec"]["ingress"] == [{"ports": [{"port": 8000, "protocol": "TCP"}]}]


@pytest.mark.tools
def test_rendering_is_deterministic(helm: Path) -> None:
    first = run_helm(helm, "template", "rel", CHART, "-f", MULTI_NODE, "--api-versions", LWS_API)
    second = run_helm(helm, "template", "rel", CHART, "-f", MULTI_NODE, "--api-versions", LWS_API)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout


@pytest.mark.tools
@pytest.mark.parametrize("extra", [(), ("-f", str(MULTI_NODE), "--set", "lws.skipApiCheck=true")])
def test_notes_render(helm: Path, extra: tuple[str, ...]) -> None:
    proc = run_helm(helm, "install", "rel", CHART, "--dry-run=client", "-n", "llm", *extra)
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n llm create secret generic vllm-api-key" in notes
    assert "port-forward svc/rel-deepseek-v4 8000:8000" in notes


# ---------------------------------------------------------------- helm: multi node (LWS)


@pytest.fixture(scope="module")
def multi(helm: Path) -> list[Doc]:
    return template(helm, "-f", MULTI_NODE, "--api-versions", LWS_API)


@pytest.mark.tools
def test_multi_node_is_a_leaderworkerset(multi: list[Doc]) -> None:
    assert not [d for d in multi if d["kind"] in ("Deployment", "PersistentVolumeClaim")]
    lws = one(multi, "LeaderWorkerSet")
    assert lws["apiVersion"] == LWS_API
    spec = lws["spec"]
    assert spec["replicas"] == 1
    assert spec["leaderWorkerTemplate"]["size"] == 2
    assert spec["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
    claims = spec["leaderWorkerTemplate"]["volumeClaimTemplates"]
    assert claims[0]["metadata"]["name"] == "model-cache"
    assert claims[0]["spec"]["resources"]["requests"]["storage"] == "1Ti"


@pytest.mark.tools
def test_multi_node_places_argv_per_role(multi: list[Doc]) -> None:
    fixture = multi_node_values()["vllm"]
    template_of = one(multi, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    leader = vllm_container(template_of["leaderTemplate"]["spec"])
    worker = vllm_container(template_of["workerTemplate"]["spec"])
    assert leader["command"] == fixture["leader"]["command"]
    assert leader["args"] == fixture["leader"]["args"]
    assert worker["command"] == ["/bin/sh", "-c"]
    assert worker["args"] == fixture["worker"]["args"]
    assert "$((LWS_WORKER_INDEX * 8))" in worker["args"][0]
    for ctr in (leader, worker):
        for kind in ("limits", "requests"):
            assert ctr["resources"][kind]["nvidia.com/gpu"] == 8
            assert ctr["resources"][kind]["rdma/ib"] == 1
        assert "IPC_LOCK" in ctr["securityContext"]["capabilities"]["add"]
        env = {e["name"]: e for e in ctr["env"]}
        assert env["VLLM_HOST_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert env["NCCL_SOCKET_IFNAME"]["value"] == "eth0"
    assert leader["startupProbe"]["periodSeconds"] * leader["startupProbe"]["failureThreshold"] == (
        15 * 320
    )
    assert "startupProbe" not in worker and "ports" not in worker
    for role in ("leaderTemplate", "workerTemplate"):
        volumes = {v["name"]: v for v in template_of[role]["spec"]["volumes"]}
        assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "128Gi"}
        assert "model-cache" not in volumes  # provided by volumeClaimTemplates


@pytest.mark.tools
def test_multi_node_service_targets_only_leaders(multi: list[Doc]) -> None:
    lws = one(multi, "LeaderWorkerSet")
    service = one(multi, "Service")
    selector = service["spec"]["selector"]
    assert selector["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    assert selector["leaderworkerset.sigs.k8s.io/name"] == lws["metadata"]["name"]
    # The LWS controller makes a headless Service named after the LWS: names must differ.
    assert service["metadata"]["name"] != lws["metadata"]["name"]
    policy = one(multi, "NetworkPolicy")
    intra = policy["spec"]["ingress"][1]["from"][0]["podSelector"]["matchLabels"]
    assert intra.items() <= labels_of(lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]).items()


@pytest.mark.tools
def test_multi_node_custom_resources_match_their_crds(multi: list[Doc]) -> None:
    assert (
        crd_errors(one(multi, "LeaderWorkerSet"), "leaderworkerset.x-k8s.io_leaderworkersets.yaml")
        == []
    )
    assert crd_errors(one(multi, "PodMonitor"), "monitoring.coreos.com_podmonitors.yaml") == []


@pytest.mark.tools
def test_crd_check_catches_unknown_fields(multi: list[Doc]) -> None:
    lws = copy.deepcopy(one(multi, "LeaderWorkerSet"))
    lws["spec"]["leaderWorkerTemplate"]["sise"] = 2
    errors = crd_errors(lws, "leaderworkerset.x-k8s.io_leaderworkersets.yaml")
    assert any("sise" in e for e in errors)


# ---------------------------------------------------------------- helm: optional objects


@pytest.mark.tools
def test_optional_objects(helm: Path, tmp_path: Path) -> None:
    values = {
        "autoscaling": {"keda": {"enabled": True, "serverAddress": "http://prom:9090"}},
        "monitoring": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}},
        "serviceAccount": {"create": True},
        "extraObjects": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-x"}}
        ],
    }
    docs = template(helm, "-f", write_values(tmp_path, values))
    deployment = one(docs, "Deployment")
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it
    scaled = one(docs, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    query = scaled["spec"]["triggers"][0]["metadata"]["query"]
    assert query == 'sum(vllm:num_requests_waiting{namespace="llm",model_name="deepseek-v4-flash"})'
    monitor = one(docs, "ServiceMonitor")
    assert crd_errors(monitor, "monitoring.coreos.com_servicemonitors.yaml") == []
    assert (
        monitor["spec"]["selector"]["matchLabels"].items()
        <= labels_of(one(docs, "Service")).items()
    )
    assert one(docs, "ConfigMap")["metadata"]["name"] == "rel-x"
    account = one(docs, "ServiceAccount")["metadata"]["name"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account


@pytest.mark.tools
def test_hpa_scales_the_leaderworkerset(helm: Path, tmp_path: Path) -> None:
    values = {"autoscaling": {"hpa": {"enabled": True, "maxReplicas": 4}}}
    docs = template(
        helm, "-f", MULTI_NODE, "-f", write_values(tmp_path, values), "--api-versions", LWS_API
    )
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    assert hpa["spec"]["maxReplicas"] == 4
    assert "replicas" not in one(docs, "LeaderWorkerSet")["spec"]


@pytest.mark.tools
def test_non_root_gets_a_writable_home(helm: Path, tmp_path: Path) -> None:
    values = {
        "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000},
        "securityContext": {"readOnlyRootFilesystem": True},
        "modelCache": {"mountPath": "/models"},
    }
    docs = template(helm, "-f", write_values(tmp_path, values))
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    ctr = vllm_container(pod)
    env = {e["name"]: e.get("value") for e in ctr["env"]}
    assert env["HOME"] == "/home/vllm" and env["HF_HOME"] == "/models"
    mounts = {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
    assert mounts["home"] == "/home/vllm" and mounts["tmp"] == "/tmp"


@pytest.mark.tools
def test_defaults_run_non_root(single: list[Doc]) -> None:
    pod = one(single, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    ctr = vllm_container(pod)
    env = {e["name"]: e.get("value") for e in ctr["env"]}
    assert env["HOME"] == "/home/vllm"
    assert env["HF_HOME"] == "/home/vllm/.cache/huggingface"
    mounts = {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
    assert mounts["home"] == "/home/vllm" and mounts["model-cache"] == env["HF_HOME"]


@pytest.mark.tools
def test_root_needs_the_uid_cleared(helm: Path, tmp_path: Path) -> None:
    """Root (as deploy-kit writes for AMD): runAsNonRoot false and the uid/gid set to null."""
    values = {
        "podSecurityContext": {
            "runAsNonRoot": False,
            "runAsUser": None,
            "runAsGroup": None,
            "fsGroup": None,
            "fsGroupChangePolicy": None,
        },
        "modelCache": {"mountPath": "/root/.cache/huggingface"},
    }
    docs = template(helm, "-f", write_values(tmp_path, values))
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": False,
        "supplementalGroups": [],
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    ctr = vllm_container(pod)
    assert "HOME" not in {e["name"] for e in ctr["env"]}
    assert "home" not in {v["name"] for v in pod["volumes"]}
    # runAsNonRoot false alone keeps the default uid 10001, so /root stays refused.
    only_flag = {"podSecurityContext": {"runAsNonRoot": False}, "modelCache": values["modelCache"]}
    assert "is under /root" in template_error(helm, "-f", write_values(tmp_path, only_flag))


# ---------------------------------------------------------------- helm: guards


@pytest.mark.tools
def test_guard_gpu_count_must_match_parallelism(helm: Path, tmp_path: Path) -> None:
    values = {"parallelism": {"gpusPerNode": 4, "nodes": 1}}
    err = template_error(helm, "-f", write_values(tmp_path, values))
    assert "tensor 1 x pipeline 1 x data 8 = 8 GPUs" in err
    assert "set parallelism.gpusPerNode to 8" in err


@pytest.mark.tools
def test_guard_multi_node_needs_the_lws_api(helm: Path) -> None:
    err = template_error(helm, "-f", MULTI_NODE)
    assert "Install LeaderWorkerSet" in err
    assert "--api-versions leaderworkerset.x-k8s.io/v1" in err


@pytest.mark.tools
def test_guard_offline_needs_a_model_cache(helm: Path, tmp_path: Path) -> None:
    values = {"model": {"offline": True}, "modelCache": {"type": "emptyDir"}}
    err = template_error(helm, "-f", write_values(tmp_path, values))
    assert "model.offline (HF_HUB_OFFLINE=1) needs the weights in a persistent model cache" in err
    env_only = {
        "vllm": {
            "env": [
                {"name": "VLLM_ENGINE_READY_TIMEOUT_S", "value": "3600"},
                {"name": "HF_HUB_OFFLINE", "value": "1"},
            ]
        },
        "modelCache": {"type": "emptyDir"},
    }
    assert "model.offline" in template_error(helm, "-f", write_values(tmp_path, env_only))
    docs = template(helm, "--set", "model.offline=true")
    env = vllm_container(one(docs, "Deployment")["spec"]["template"]["spec"])["env"]
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in env


GUARD_CASES = [
    (
        {"parallelism": {"tensor": 2, "data": 4}},
        "argv has --tensor-parallel-size 1 but parallelism.tensor is 2",
        "argv has --tensor-parallel-size 1 but parallelism.tensor is 2",
    ),
    (
        {"parallelism": {"expert": False}},
        "argv has --enable-expert-parallel but parallelism.expert is false",
        "argv has --enable-expert-parallel but parallelism.expert is false",
    ),
    ({"image": {"tag": "latest"}}, "never latest", "not latest"),
    (
        {"extraEnv": [{"name": "HF_TOKEN", "value": "hf_x"}]},
        "HF_TOKEN is set inline",
        "HF_TOKEN is set inline",
    ),
    ({"replicas": 2}, "[ReadWriteMany]", "[ReadWriteMany]"),
    (
        {"modelCache": {"mountPath": "/root/.cache/huggingface"}},
        "is under /root, which a non-root uid cannot enter",
        "is under /root, which a non-root uid cannot enter",
    ),
    (
        {
            "autoscaling": {
                "hpa": {"enabled": True},
                "keda": {"enabled": True, "serverAddress": "x"},
            }
        },
        "enable hpa or keda, not both",
        "enable hpa or keda, not both",
    ),
]


@pytest.mark.tools
@pytest.mark.parametrize(("values", "helm_says", "contract_says"), GUARD_CASES)
def test_guards_reject_inconsistent_values(
    helm: Path, tmp_path: Path, values: Doc, helm_says: str, contract_says: str
) -> None:
    assert helm_says in template_error(helm, "-f", write_values(tmp_path, values))
    # The contract refuses the same values before deploy-kit ever writes them.
    with pytest.raises(ValidationError) as caught:
        HelmValues.model_validate(coalesce(chart_defaults(), values))
    assert contract_says in str(caught.value)


@pytest.mark.tools
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--set", "parallelism.nodes=two"), "/parallelism/nodes"),
        (("--set-json", 'vllm={"port":"8000"}'), "/vllm/port"),
        (("--set", "parallelism.tensors=8"), "additional properties 'tensors' not allowed"),
        (("--set", "modelCache.type=nfs"), "/modelCache/type"),
        (("--set", "shm.sizeLimit=lots"), "/shm/sizeLimit"),
    ],
)
def test_schema_rejects_invalid_values(helm: Path, args: tuple[str, ...], needle: str) -> None:
    err = template_error(helm, *args)
    assert "values don't meet the specifications of the schema" in err
    assert needle in err
