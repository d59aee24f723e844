"""The kubernetes target over every model x preset: invariants, validators, LWS wiring, security."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

import deploy_kit
from deploy_kit.catalog import load_catalog
from deploy_kit.errors import PlanError
from deploy_kit.renderer import RenderOptions, render_files
from deploy_kit.renderer.context import build_context, header_lines
from deploy_kit.spec import Knobs, Plan
from deploy_kit.validate.findings import Finding
from deploy_kit.validate.structural.crd import BUNDLED_CRD_DIR
from deploy_kit.validate.structural.tools import find_tool, tool_available
from deploy_kit.validate.structural.validators import (
    YamlDoc,
    crd_validate_docs,
    k8s_validate_docs,
    parse_yaml_docs,
)
from deploy_kit.vllm import argv as vllm
from deploy_kit.vllm import flags as vllm_flags
from tests.helpers import one, walk

REPO = Path(__file__).resolve().parents[1]
CRDS = BUNDLED_CRD_DIR
MODELS = ("deepseek-v4-flash", "deepseek-v4-pro")
CUSTOM_KINDS = {"LeaderWorkerSet", "ServiceMonitor", "PodMonitor"}
# Kinds neither kubernetes-validate nor the bundled CRDs have a schema for.
UNVALIDATED_KINDS = {"ScaledObject"}
CANARY = "hf_canary_5f1d0c0ffee"
Doc = dict[str, Any]


# ---------------------------------------------------------------- the matrix


@cache
def matrix() -> tuple[tuple[str, str], ...]:
    """Every (model, preset) that plans; PlanError cases are skipped by design."""
    cases = []
    for model in MODELS:
        for preset in load_catalog().presets:
            try:
                deploy_kit.plan(model, preset)
            except PlanError:
                continue
            cases.append((model, preset))
    return tuple(cases)


@cache
def plan_of(model: str, hardware: str, knobs: Knobs | None = None) -> Plan:
    return deploy_kit.plan(model, hardware, knobs)


def render_target(plan: Plan, target: str, **options: Any) -> dict[str, str]:
    """The target's files with paths relative to its folder."""
    files = render_files(plan, target, RenderOptions(**options))
    prefix = f"{target}/"
    return {k.removeprefix(prefix): v for k, v in files.items() if k.startswith(prefix)}


def manifests(files: dict[str, str]) -> list[Doc]:
    return [
        doc
        for name, text in sorted(files.items())
        if name.endswith(".yaml") and name != "kustomization.yaml"
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def pod_specs(docs: list[Doc]) -> dict[str, Doc]:
    """Pod spec per role: leader (Deployment pod or LWS leader) and worker (LWS only)."""
    for doc in docs:
        if doc["kind"] == "Deployment":
            return {"leader": doc["spec"]["template"]["spec"]}
        if doc["kind"] == "LeaderWorkerSet":
            lwt = doc["spec"]["leaderWorkerTemplate"]
            return {
                "leader": lwt["leaderTemplate"]["spec"],
                "worker": lwt["workerTemplate"]["spec"],
            }
    raise AssertionError("no workload")


def container(pod: Doc) -> Doc:
    [ctr] = pod["containers"]
    assert ctr["name"] == "vllm"
    result: Doc = ctr
    return result


# ---------------------------------------------------------------- expansion, as the cluster does it


LEADER_IP = "10.1.2.3"
WORKER_INDEX = 1


def k8s_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of command/args: unknown references stay as they are."""
    return re.sub(
        r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), text
    )


def lws_env(index: int) -> dict[str, str]:
    return {"LWS_LEADER_ADDRESS": LEADER_IP, "LWS_WORKER_INDEX": str(index), "LWS_GROUP_SIZE": "2"}


def effective_argv(ctr: Doc, index: int) -> list[str]:
    """argv the container runs on LWS index `index`: $(VAR) expanded, `sh -c` split the way the
    brief asks (strip exec, shlex) after the shell's own expansions are substituted."""
    env = lws_env(index)
    argv = [k8s_expand(a, env) for a in [*ctr.get("command", []), *ctr.get("args", [])]]
    if argv[:2] != ["/bin/sh", "-c"]:
        return argv
    [script] = argv[2:]
    script = re.sub(
        r"\$\(\(\s*LWS_WORKER_INDEX\s*\*\s*([0-9]+)\s*\)\)",
        lambda m: str(index * int(m.group(1))),
        script,
    )
    script = script.replace("$LWS_LEADER_ADDRESS", LEADER_IP)
    script = script.replace("$LWS_WORKER_INDEX", str(index))
    tokens = shlex.split(script)
    assert tokens[0] == "exec", script
    return tokens[1:]


def concrete_argv(plan: Plan, rank: int) -> list[str]:
    """What the planner's own per-node argv would be with the leader at LEADER_IP."""
    ck = load_catalog().checkpoints[plan.checkpoint_id]
    addr = vllm.Addressing.concrete(LEADER_IP, rank, plan.data_parallel_local)
    return vllm.serve_argv(plan, ck, rank, addr)


# ---------------------------------------------------------------- every model x preset


def test_matrix_covers_both_models_and_multi_node() -> None:
    cases = matrix()
    assert {m for m, _ in cases} == set(MODELS)
    kinds = {plan_of(m, h).multi_node for m, h in cases}
    assert kinds == {"none", "nnodes", "data-parallel"}


@pytest.mark.parametrize(("model", "hardware"), matrix())
def test_invariants(model: str, hardware: str) -> None:
    plan = plan_of(model, hardware)
    files = render_target(plan, "kubernetes")
    docs = manifests(files)
    ctx = build_context(plan, RenderOptions(), "kubernetes")
    header = [f"# {line}" for line in header_lines(ctx)]
    for name, text in files.items():
        assert text.splitlines()[:3] == header, name
        assert text.endswith("\n") and not text.endswith("\n\n"), name
    workload = "leaderworkerset.yaml" if plan.nodes > 1 else "deployment.yaml"
    expected = {workload, "service.yaml", "pdb.yaml", "networkpolicy.yaml", "kustomization.yaml"}
    if plan.nodes == 1:
        expected.add("pvc.yaml")
    assert set(files) == expected
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert sorted(kustomization["resources"]) == sorted(expected - {"kustomization.yaml"})

    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "deepseek-v4"
        assert labels["app.kubernetes.io/instance"] == plan.model
        assert labels["app.kubernetes.io/managed-by"] == "deploy-kit"
        assert "namespace" not in doc["metadata"]

    pods = pod_specs(docs)
    assert set(pods) == ({"leader", "worker"} if plan.nodes > 1 else {"leader"})
    gpu = plan.hardware.gpu.k8s_resource
    world = plan.tensor_parallel * plan.pipeline_parallel * plan.data_parallel
    for role, pod in pods.items():
        ctr = container(pod)
        for kind in ("requests", "limits"):
            assert ctr["resources"][kind][gpu] == plan.gpus_per_node
            assert {"cpu", "memory"} <= set(ctr["resources"][kind])
        assert world == plan.nodes * ctr["resources"]["limits"][gpu]
        volumes = {v["name"]: v for v in pod["volumes"]}
        shm = volumes["dshm"]["emptyDir"]
        assert shm["medium"] == "Memory" and shm["sizeLimit"] == ctx.shm_gi
        assert {"name": "dshm", "mountPath": "/dev/shm"} in ctr["volumeMounts"]
        assert pod["enableServiceLinks"] is False
        assert pod["tolerations"] == [{"key": gpu, "operator": "Exists", "effect": "NoSchedule"}]
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        [expr] = terms["nodeSelectorTerms"][0]["matchExpressions"]
        assert expr["operator"] == "In"
        assert expr["values"] == plan.hardware.gpu.k8s_product_labels
        assert not any("hostPath" in v for v in pod["volumes"])
        env = {e["name"]: e for e in ctr["env"]}
        assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "vllm-api-key"
        assert "value" not in env["VLLM_API_KEY"] and "value" not in env["HF_TOKEN"]
        if plan.nodes > 1:
            assert env["VLLM_HOST_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
            assert set(vllm.node_env_names(plan)) <= set(env)
        if role == "leader":
            startup = ctr["startupProbe"]
            window = startup["periodSeconds"] * startup["failureThreshold"]
            assert window >= plan.load_time_s
            assert window >= int(plan.vllm.env[vllm.ENV_READY_TIMEOUT])
            for probe in ("readinessProbe", "livenessProbe"):
                assert ctr[probe]["httpGet"] == {"path": "/health", "port": "http"}
        else:
            assert "startupProbe" not in ctr and "ports" not in ctr

    if plan.nodes > 1:
        lws = one(docs, "LeaderWorkerSet")
        assert lws["spec"]["leaderWorkerTemplate"]["size"] == plan.nodes
        assert lws["spec"]["replicas"] == plan.replicas
    else:
        assert one(docs, "Deployment")["spec"]["replicas"] == plan.replicas


@pytest.mark.parametrize(("model", "hardware"), matrix())
def test_argv_per_role_is_the_planners(model: str, hardware: str) -> None:
    """After Kubernetes' and the shell's expansion, each role runs the planner's argv."""
    plan = plan_of(model, hardware)
    pods = pod_specs(manifests(render_target(plan, "kubernetes")))
    for index, role in enumerate(sorted(pods)):  # leader = index 0, worker = index 1
        argv = effective_argv(container(pods[role]), index)
        problems = [p for p in vllm_flags.check_argv(argv) if p.severity == "error"]
        assert problems == [], (role, problems)
        if plan.nodes == 1:
            assert argv == plan.vllm.argv["node-0"]
        else:
            assert argv == concrete_argv(plan, index), role


def test_dp_worker_shell_form_runs_the_planners_argv(tmp_path: Path) -> None:
    """The worker's `sh -c` string through a real shell (vllm replaced by an argv printer)."""
    plan = plan_of("deepseek-v4-pro", "2x8xH200")
    worker = container(pod_specs(manifests(render_target(plan, "kubernetes")))["worker"])
    assert worker["command"] == ["/bin/sh", "-c"]
    fake = tmp_path / "vllm"
    fake.write_text('#!/bin/sh\nprintf "%s\\0" vllm "$@"\n', encoding="utf-8")
    fake.chmod(0o755)
    [script] = worker["args"]
    script = k8s_expand(script, lws_env(1))  # the kubelet expands first; the shell then runs
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", **lws_env(1)}
    proc = subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, timeout=30, check=True
    )
    argv = proc.stdout.decode().split("\0")[:-1]
    assert argv == concrete_argv(plan, 1)
    assert argv[argv.index(vllm.F_DP_START_RANK) + 1] == str(plan.data_parallel_local)


def test_nnodes_worker_needs_no_shell() -> None:
    plan = plan_of("deepseek-v4-flash", "2xGB10")
    pods = pod_specs(manifests(render_target(plan, "kubernetes")))
    worker = container(pods["worker"])
    assert worker["command"] == list(vllm.SERVE)
    args = worker["args"]
    assert args[args.index(vllm.F_NODE_RANK) + 1] == "$(LWS_WORKER_INDEX)"
    assert args[args.index(vllm.F_MASTER_ADDR) + 1] == "$(LWS_LEADER_ADDRESS)"
    assert vllm.F_HEADLESS in args
    leader = container(pods["leader"])["args"]
    assert leader[leader.index(vllm.F_NODE_RANK) + 1] == "0"
    assert vllm.F_HEADLESS not in leader


@pytest.mark.parametrize(("model", "hardware"), matrix()[:3] + matrix()[-3:])
def test_deterministic(model: str, hardware: str) -> None:
    plan = plan_of(model, hardware)
    assert render_target(plan, "kubernetes") == render_target(plan, "kubernetes")


def test_no_secret_value_reaches_the_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", CANARY)
    monkeypatch.setenv("VLLM_API_KEY", CANARY)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", CANARY)
    for model, hardware in matrix():
        for text in render_target(plan_of(model, hardware), "kubernetes").values():
            assert CANARY not in text
            assert ":latest" not in text
    assert os.environ["HF_TOKEN"] == CANARY


def test_security_context() -> None:
    for hardware, multi in (("8xH200", False), ("2x8xH200", True)):
        docs = manifests(render_target(plan_of("deepseek-v4-flash", hardware), "kubernetes"))
        assert not [d for d in docs if d["kind"] == "Secret"]
        for pod in pod_specs(docs).values():
            assert pod["automountServiceAccountToken"] is False
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            sc = container(pod)["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["capabilities"].get("add", []) == (["IPC_LOCK"] if multi else [])
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            images = [n["image"] for n in walk(pod) if isinstance(n, dict) and "image" in n]
            assert images == [
                vllm.image_for(plan_of("deepseek-v4-flash", hardware).hardware.gpu, "0.33.0")
            ]


@pytest.mark.parametrize("hardware", ["8xH200", "2x8xH200"])
def test_nvidia_pods_run_non_root_with_a_writable_home(hardware: str) -> None:
    """uid 10001 as the Dockerfile target; HOME and the HF cache outside /root."""
    docs = manifests(render_target(plan_of("deepseek-v4-flash", hardware), "kubernetes"))
    for pod in pod_specs(docs).values():
        assert pod["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        ctr = container(pod)
        env = {e["name"]: e.get("value") for e in ctr["env"]}
        assert env["HOME"] == "/home/vllm"
        assert env["HF_HOME"] == "/home/vllm/.cache/huggingface"
        mounts = {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
        assert mounts["home"] == "/home/vllm" and mounts["model-cache"] == env["HF_HOME"]
        assert not any(p.startswith("/root") for p in mounts.values())
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["home"] == {"name": "home", "emptyDir": {}}


def test_amd_pods_keep_root() -> None:
    """ROCm device group ids vary per host: AMD stays root, its cache under /root."""
    docs = manifests(render_target(plan_of("deepseek-v4-flash", "4xMI355X"), "kubernetes"))
    for pod in pod_specs(docs).values():
        assert pod["securityContext"] == {
            "runAsNonRoot": False,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        ctr = container(pod)
        env = {e["name"]: e.get("value") for e in ctr["env"]}
        assert "HOME" not in env and env["HF_HOME"] == "/root/.cache/huggingface"
        assert "home" not in {v["name"] for v in pod["volumes"]}


# ---------------------------------------------------------------- options


def test_single_engine_cache_is_a_read_write_once_claim() -> None:
    plan = plan_of("deepseek-v4-flash", "8xH200")
    docs = manifests(render_target(plan, "kubernetes"))
    claim = one(docs, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # 148.66 GiB checkpoint x 1.3 headroom, rounded up to 10 GiB.
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"
    volumes = {v["name"]: v for v in pod_specs(docs)["leader"]["volumes"]}
    assert volumes["model-cache"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_replicas_share_a_read_write_many_claim() -> None:
    plan = plan_of("deepseek-v4-flash", "8xB300", Knobs(dp=2))
    assert plan.replicas == 4 and plan.nodes == 1
    docs = manifests(render_target(plan, "kubernetes"))
    assert one(docs, "Deployment")["spec"]["replicas"] == 4
    assert one(docs, "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteMany"]
    ctr = container(pod_specs(docs)["leader"])
    assert ctr["resources"]["limits"]["nvidia.com/gpu"] == 2


def test_lws_groups_get_a_claim_per_pod() -> None:
    plan = plan_of("deepseek-v4-flash", "4x8xH100", Knobs(dp=16))
    assert (plan.nodes, plan.replicas) == (2, 2)
    files = render_target(plan, "kubernetes", storage_class="fast-nvme")
    assert "pvc.yaml" not in files
    lws = one(manifests(files), "LeaderWorkerSet")
    assert lws["spec"]["replicas"] == 2 and lws["spec"]["leaderWorkerTemplate"]["size"] == 2
    [claim] = lws["spec"]["leaderWorkerTemplate"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "model-cache"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["storageClassName"] == "fast-nvme"


def test_service_selects_only_group_leaders() -> None:
    docs = manifests(render_target(plan_of("deepseek-v4-pro", "2x8xH200"), "kubernetes"))
    lws = one(docs, "LeaderWorkerSet")
    selector = one(docs, "Service")["spec"]["selector"]
    assert selector["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    assert selector["leaderworkerset.sigs.k8s.io/name"] == lws["metadata"]["name"]
    assert one(docs, "Service")["metadata"]["name"] != lws["metadata"]["name"]
    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["ingress"][0] == {"ports": [{"port": 8000, "protocol": "TCP"}]}
    peers = policy["ingress"][1]["from"][0]["podSelector"]["matchLabels"]
    worker_labels = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["metadata"]["labels"]
    assert peers.items() <= worker_labels.items()


def test_options_host_path_namespace_no_api_key_no_policy() -> None:
    plan = plan_of("deepseek-v4-flash", "8xH200")
    files = render_target(
        plan,
        "kubernetes",
        model_cache="hostPath",
        namespace="llm",
        api_key=False,
        network_policy=False,
    )
    assert "pvc.yaml" not in files and "networkpolicy.yaml" not in files
    docs = manifests(files)
    assert {d["metadata"]["namespace"] for d in docs} == {"llm"}
    assert yaml.safe_load(files["kustomization.yaml"])["namespace"] == "llm"
    pod = pod_specs(docs)["leader"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["model-cache"]["hostPath"]["path"] == RenderOptions().host_cache_path
    env = {e["name"] for e in container(pod)["env"]}
    assert "VLLM_API_KEY" not in env and "HF_TOKEN" in env


@pytest.mark.parametrize("autoscaling", ["hpa", "keda"])
def test_autoscaling_targets_the_workload(autoscaling: str) -> None:
    for hardware, kind in (("8xH200", "Deployment"), ("2x8xH200", "LeaderWorkerSet")):
        plan = plan_of("deepseek-v4-flash", hardware)
        docs = manifests(render_target(plan, "kubernetes", autoscaling=autoscaling))
        workload = one(docs, kind)
        assert "replicas" not in workload["spec"]  # the autoscaler owns it
        scaler = one(docs, "HorizontalPodAutoscaler" if autoscaling == "hpa" else "ScaledObject")
        target = scaler["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == (kind, workload["metadata"]["name"])
        text = yaml.safe_dump(scaler)
        assert "num_requests_waiting" in text


# ---------------------------------------------------------------- validators (tools)


def option_variants() -> list[tuple[Plan, dict[str, Any]]]:
    flash, pro_dp = plan_of("deepseek-v4-flash", "8xH200"), plan_of("deepseek-v4-pro", "2x8xH200")
    gb10 = plan_of("deepseek-v4-flash", "2xGB10")
    return [
        (flash, {"autoscaling": "hpa", "monitoring": "servicemonitor", "namespace": "llm"}),
        (flash, {"autoscaling": "keda", "monitoring": "podmonitor", "model_cache": "emptyDir"}),
        (pro_dp, {"autoscaling": "hpa", "monitoring": "podmonitor", "model_cache": "hostPath"}),
        (gb10, {"autoscaling": "keda", "monitoring": "servicemonitor"}),
        (plan_of("deepseek-v4-flash", "8xB300", Knobs(dp=2)), {}),
        (plan_of("deepseek-v4-flash", "4x8xH100", Knobs(dp=16)), {"storage_class": "nvme"}),
    ]


def require_tools(*names: str) -> None:
    missing = [n for n in names if not tool_available(n)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: run `make tools`")


def validate(docs: list[YamlDoc]) -> list[Finding]:
    """kubernetes-validate (strict) for built-ins, the CRDs for custom resources."""
    custom = [d for d in docs if d.kind in CUSTOM_KINDS]
    builtin = [d for d in docs if d.kind not in CUSTOM_KINDS | UNVALIDATED_KINDS]
    return crd_validate_docs(custom, sorted(CRDS.glob("*.yaml"))) + k8s_validate_docs(builtin)


def yaml_docs(files: dict[str, str], label: str) -> list[YamlDoc]:
    return [
        doc
        for name, text in sorted(files.items())
        if name.endswith(".yaml") and name != "kustomization.yaml"
        for doc in parse_yaml_docs(text, f"{label}/{name}")
    ]


@pytest.mark.tools
def test_matrix_passes_the_schema_validators() -> None:
    require_tools("kubernetes-validate")
    docs: list[YamlDoc] = []
    for model, hardware in matrix():
        docs += yaml_docs(render_target(plan_of(model, hardware), "kubernetes"), hardware)
    for i, (plan, options) in enumerate(option_variants()):
        docs += yaml_docs(render_target(plan, "kubernetes", **options), f"variant-{i}")
    kinds = {d.kind for d in docs}
    assert {"Deployment", "LeaderWorkerSet", "ServiceMonitor", "PodMonitor"} <= kinds
    assert validate(docs) == []


@pytest.mark.tools
def test_kustomize_builds_the_bundle(tmp_path: Path) -> None:
    require_tools("kubectl")
    plan = plan_of("deepseek-v4-pro", "2x8xH200")
    files = render_target(plan, "kubernetes", namespace="llm", monitoring="podmonitor")
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [str(find_tool("kubectl")), "kustomize", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    built = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert sorted(d["kind"] for d in built) == sorted(d["kind"] for d in manifests(files))
    assert {d["metadata"]["namespace"] for d in built} == {"llm"}
