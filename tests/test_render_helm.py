"""The helm target: values.yaml for charts/deepseek-v4, and agreement with the kubernetes target."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_render_kubernetes import (
    CANARY,
    LEADER_IP,
    UNVALIDATED_KINDS,
    Doc,
    container,
    effective_argv,
    manifests,
    matrix,
    one,
    plan_of,
    pod_specs,
    render_target,
    require_tools,
    validate,
)

from deploy_kit.renderer import RenderOptions
from deploy_kit.renderer.context import build_context, header_lines
from deploy_kit.renderer.helm import CHART, helm_values
from deploy_kit.renderer.helm_values import HelmValues, consistency_problems
from deploy_kit.spec import Knobs, Plan
from deploy_kit.validate.structural.tools import find_tool
from deploy_kit.validate.structural.validators import (
    YamlDoc,
    helm_lint,
    helm_template,
    parse_yaml_docs,
)
from deploy_kit.vllm import argv as vllm
from deploy_kit.vllm import flags as vllm_flags

REPO = Path(__file__).resolve().parents[1]
CHART_DIR = REPO / CHART
LWS_API = "leaderworkerset.x-k8s.io/v1"
NAMESPACE = "llm"


def values_of(files: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(files["values.yaml"])
    return data


def write_values(tmp_path: Path, files: dict[str, str], label: str) -> Path:
    path = tmp_path / f"{label}.yaml"
    path.write_text(files["values.yaml"], encoding="utf-8")
    return path


def helm_docs(plan: Plan, values: Path) -> list[Doc]:
    """`helm template` of the chart with the rendered values, as the README says to run it."""
    apis = [LWS_API] if plan.nodes > 1 else []
    text = helm_template(CHART_DIR, values, apis, release=plan.model, namespace=NAMESPACE)
    docs = [d for d in yaml.safe_load_all(text) if d]
    # The release's objects only: the `helm test` hook Pod is tests/test_smoke_helm.py's.
    return [d for d in docs if "helm.sh/hook" not in d["metadata"].get("annotations", {})]


# ---------------------------------------------------------------- values contract (no tools)


@pytest.mark.parametrize(("model", "hardware"), matrix())
def test_values_file_is_the_plan(model: str, hardware: str) -> None:
    plan = plan_of(model, hardware)
    files = render_target(plan, "helm")
    assert set(files) == {"values.yaml", "README.md"}
    ctx = build_context(plan, RenderOptions(), "helm")
    assert files["values.yaml"].splitlines()[:3] == [f"# {line}" for line in header_lines(ctx)]
    values = HelmValues.model_validate(values_of(files))
    assert values == helm_values(ctx)
    assert consistency_problems(values) == []
    p = values.parallelism
    assert (p.tensor, p.pipeline, p.data, p.expert) == (
        plan.tensor_parallel,
        plan.pipeline_parallel,
        plan.data_parallel,
        plan.expert_parallel,
    )
    assert p.tensor * p.pipeline * p.data == p.nodes * p.gpusPerNode
    assert (p.nodes, p.gpusPerNode, values.replicas) == (
        plan.nodes,
        plan.gpus_per_node,
        plan.replicas,
    )
    startup = values.probes.startup
    assert startup.periodSeconds * startup.failureThreshold >= plan.load_time_s
    assert values.image.tag and values.image.tag != "latest"
    for role in (values.vllm.leader, values.vllm.worker):
        if role.command or role.args:
            argv = effective_argv({"command": role.command, "args": role.args}, 1)
            assert [p for p in vllm_flags.check_argv(argv) if p.severity == "error"] == []


@pytest.mark.parametrize("hardware", ["8xH200", "2x8xH200", "2xGB10"])
def test_readme_has_the_exact_commands(hardware: str) -> None:
    plan = plan_of("deepseek-v4-flash", hardware)
    readme = render_target(plan, "helm")["README.md"]
    assert f'helm install {plan.model} "$CHART" --namespace NAMESPACE' in readme
    assert f"CHART={CHART}" in readme
    assert "-f values.yaml" in readme
    api = f"--api-versions {LWS_API}"
    template_line = next(ln for ln in readme.splitlines() if ln.startswith("helm template"))
    assert (api in template_line) == (plan.nodes > 1)
    assert "create secret generic vllm-api-key" in readme


def test_chart_defaults_are_the_flash_8xh200_plan() -> None:
    """charts/deepseek-v4/values.yaml (= HelmValues()) deploys what `plan` prints for Flash."""
    planned = helm_values(
        build_context(plan_of("deepseek-v4-flash", "8xH200"), RenderOptions(), "helm")
    )
    defaults = HelmValues()
    for section in ("model", "image", "parallelism", "replicas", "gpu", "vllm", "secrets", "shm"):
        assert getattr(defaults, section) == getattr(planned, section), section
    for section in ("probes", "resources", "tolerations", "securityContext", "podSecurityContext"):
        assert getattr(defaults, section) == getattr(planned, section), section
    assert defaults.modelCache == planned.modelCache
    assert vllm.F_NO_FLASHINFER_AUTOTUNE in defaults.vllm.leader.args
    # The chart default leaves node selection open; the rendered values pin the GPU product.
    assert defaults.affinity == {} and planned.affinity


def test_amd_values_clear_the_chart_non_root_defaults() -> None:
    """helm merges values over the chart's (non-root) defaults: only explicit nulls drop the
    uid/gid keys, so an AMD values file runs as root with its cache under /root."""
    ctx = build_context(plan_of("deepseek-v4-flash", "4xMI355X"), RenderOptions(), "helm")
    values = helm_values(ctx).to_values()
    assert values["podSecurityContext"] == {
        "runAsNonRoot": False,
        "runAsUser": None,
        "runAsGroup": None,
        "fsGroup": None,
        "fsGroupChangePolicy": None,
        "supplementalGroups": [],
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert values["modelCache"]["mountPath"] == "/root/.cache/huggingface"
    nvidia = build_context(plan_of("deepseek-v4-flash", "8xH200"), RenderOptions(), "helm")
    assert None not in helm_values(nvidia).to_values()["podSecurityContext"].values()


def test_deterministic_and_secret_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", CANARY)
    monkeypatch.setenv("VLLM_API_KEY", CANARY)
    for model, hardware in matrix():
        plan = plan_of(model, hardware)
        first = render_target(plan, "helm")
        assert first == render_target(plan, "helm")
        for text in first.values():
            assert CANARY not in text and ":latest" not in text


def test_options_reach_the_values() -> None:
    plan = plan_of("deepseek-v4-flash", "8xH200")
    files = render_target(
        plan,
        "helm",
        api_key=False,
        model_cache="hostPath",
        autoscaling="keda",
        monitoring="servicemonitor",
        namespace=NAMESPACE,
        network_policy=False,
    )
    v = HelmValues.model_validate(values_of(files))
    assert not v.secrets.apiKey.enabled and v.secrets.hfToken.enabled
    assert (v.modelCache.type, v.modelCache.hostPath) == (
        "hostPath",
        RenderOptions().host_cache_path,
    )
    assert v.autoscaling.keda.enabled and not v.autoscaling.hpa.enabled
    assert f'namespace="{NAMESPACE}"' in v.autoscaling.keda.query
    assert v.monitoring.serviceMonitor.enabled and not v.networkPolicy.enabled


# ---------------------------------------------------------------- helm template (tools)


def variants() -> list[tuple[str, Plan, dict[str, Any]]]:
    return [
        ("flash-8xh200", plan_of("deepseek-v4-flash", "8xH200"), {}),
        ("pro-2x8xh200", plan_of("deepseek-v4-pro", "2x8xH200"), {}),
        ("flash-2xgb10", plan_of("deepseek-v4-flash", "2xGB10"), {"monitoring": "podmonitor"}),
        ("flash-4xmi355x", plan_of("deepseek-v4-flash", "4xMI355X"), {"autoscaling": "hpa"}),
        (
            "flash-8xb300-dp2",
            plan_of("deepseek-v4-flash", "8xB300", Knobs(dp=2)),
            {"monitoring": "servicemonitor", "model_cache": "emptyDir"},
        ),
        (
            "flash-4x8xh100-dp16",
            plan_of("deepseek-v4-flash", "4x8xH100", Knobs(dp=16)),
            {"autoscaling": "keda", "namespace": NAMESPACE, "storage_class": "nvme"},
        ),
        (
            "pro-2x8xh100-hostpath",
            plan_of("deepseek-v4-pro", "2x8xH100"),
            {"model_cache": "hostPath"},
        ),
        ("pro-8xb300-nokey", plan_of("deepseek-v4-pro", "8xB300"), {"api_key": False}),
    ]


@pytest.mark.tools
def test_helm_template_of_every_plan_passes_the_validators(tmp_path: Path) -> None:
    require_tools("helm", "kubernetes-validate")
    docs: list[YamlDoc] = []
    no_options: dict[str, Any] = {}
    cases = [(f"{m}-{h}", plan_of(m, h), no_options) for m, h in matrix()] + variants()
    for label, plan, options in cases:
        path = write_values(tmp_path, render_target(plan, "helm", **options), label)
        apis = [LWS_API] if plan.nodes > 1 else []
        text = helm_template(CHART_DIR, path, apis, release=plan.model, namespace=NAMESPACE)
        docs += parse_yaml_docs(text, label)
    kinds = {d.kind for d in docs}
    assert {"Deployment", "LeaderWorkerSet", "PodMonitor", "ServiceMonitor"} <= kinds
    assert kinds & UNVALIDATED_KINDS  # the KEDA variant is rendered (no schema to check)
    assert validate(docs) == []


@pytest.mark.tools
def test_helm_lint_strict_on_rendered_values(tmp_path: Path) -> None:
    require_tools("helm")
    paths = []
    for label, plan, options in variants():
        files = render_target(plan, "helm", **options)
        if plan.nodes > 1:  # helm lint cannot take --api-versions
            values = values_of(files)
            values["lws"]["skipApiCheck"] = True
            files = {"values.yaml": yaml.safe_dump(values, sort_keys=False)}
        paths.append(write_values(tmp_path, files, label))
    findings = helm_lint(CHART_DIR, paths)
    assert [f for f in findings if f.severity != "info"] == []


# ---------------------------------------------------------------- agreement (tools)

SELECTOR_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
)


def comparable(doc: Doc) -> Doc:
    """The spec of one object, minus what only names the tool (labels, service account)."""
    spec: Doc = copy.deepcopy(doc["spec"])
    templates: list[Doc] = []
    if doc["kind"] == "Deployment":
        templates = [spec["template"]]
    elif doc["kind"] == "LeaderWorkerSet":
        lwt = spec["leaderWorkerTemplate"]
        templates = [lwt["leaderTemplate"], lwt["workerTemplate"]]
    for template in templates:
        labels = template["metadata"]["labels"]
        template["metadata"] = {"labels": {k: labels[k] for k in SELECTOR_LABELS}}
        pod = template["spec"]
        pod.pop("serviceAccountName", None)  # the chart names `default` explicitly
        pod["securityContext"] = {k: v for k, v in pod["securityContext"].items() if v != []}
    return spec


def key(doc: Doc) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def essentials(docs: list[Doc], plan: Plan) -> dict[str, Any]:
    """What must agree, spelled out: argv per role, GPUs, group size, shm, probes."""
    out: dict[str, Any] = {}
    gpu = plan.hardware.gpu.k8s_resource
    for role, pod in pod_specs(docs).items():
        ctr = container(pod)
        volumes = {v["name"]: v for v in pod["volumes"]}
        probe = ctr.get("startupProbe")
        out[role] = {
            "argv": [*ctr["command"], *ctr["args"]],
            "gpus": (ctr["resources"]["requests"][gpu], ctr["resources"]["limits"][gpu]),
            "shm": volumes["dshm"]["emptyDir"],
            "startup_window": probe and probe["periodSeconds"] * probe["failureThreshold"],
            "probes": [ctr.get(p) for p in ("startupProbe", "readinessProbe", "livenessProbe")],
        }
    workload = next(d for d in docs if d["kind"] in ("Deployment", "LeaderWorkerSet"))
    if workload["kind"] == "LeaderWorkerSet":
        out["group_size"] = workload["spec"]["leaderWorkerTemplate"]["size"]
    out["replicas"] = workload["spec"].get("replicas")
    return out


@pytest.mark.tools
@pytest.mark.parametrize(("label", "plan", "options"), variants(), ids=[v[0] for v in variants()])
def test_helm_and_kubernetes_targets_agree(
    tmp_path: Path, label: str, plan: Plan, options: dict[str, Any]
) -> None:
    require_tools("helm")
    from_helm = helm_docs(
        plan, write_values(tmp_path, render_target(plan, "helm", **options), label)
    )
    from_k8s = manifests(render_target(plan, "kubernetes", **options))
    assert essentials(from_helm, plan) == essentials(from_k8s, plan)
    summary = essentials(from_k8s, plan)
    assert summary["leader"]["gpus"] == (plan.gpus_per_node, plan.gpus_per_node)
    assert summary["leader"]["startup_window"] >= plan.load_time_s
    if plan.nodes > 1:
        assert summary["group_size"] == plan.nodes
    # Beyond the essentials, every object's spec is the same.
    assert sorted(map(key, from_helm)) == sorted(map(key, from_k8s))
    helm_specs = {key(d): comparable(d) for d in from_helm}
    for doc in from_k8s:
        assert comparable(doc) == helm_specs[key(doc)], key(doc)


@pytest.mark.tools
def test_chart_defaults_render_the_same_pod_as_the_flash_plan(tmp_path: Path) -> None:
    """`helm template` with no values file = the Flash 8xH200 plan, except node affinity."""
    require_tools("helm")
    plan = plan_of("deepseek-v4-flash", "8xH200")
    text = helm_template(CHART_DIR, None, release=plan.model, namespace=NAMESPACE)
    defaults = [d for d in yaml.safe_load_all(text) if d]
    planned = manifests(render_target(plan, "kubernetes"))
    assert essentials(defaults, plan) == essentials(planned, plan)
    default_pod = comparable(one(defaults, "Deployment"))["template"]["spec"]
    planned_pod = comparable(one(planned, "Deployment"))["template"]["spec"]
    planned_pod.pop("affinity")
    assert default_pod == planned_pod


@pytest.mark.tools
def test_cli_bundle_installs_what_plan_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`deploy-kit render --target helm --out DIR`, then `helm install NAME CHART -f DIR/...`."""
    require_tools("helm")
    from deploy_kit.cli.main import main

    out = tmp_path / "bundle"
    args = ["--model", "deepseek-v4-pro", "--hardware", "2x8xH200"]
    assert main(["render", *args, "--target", "helm", "--out", str(out), "-q"]) == 0
    assert main(["plan", *args, "-o", "json"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    proc = subprocess.run(
        [
            str(find_tool("helm")),
            "install",
            "deepseek-v4-pro",
            str(CHART_DIR),
            "--dry-run=client",
            "-n",
            NAMESPACE,
            "-f",
            str(out / "helm" / "values.yaml"),
            "--set",
            "lws.skipApiCheck=true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    manifest = proc.stdout.split("NOTES:", 1)[0]
    docs = [d for d in yaml.safe_load_all(manifest.split("MANIFEST:", 1)[1]) if d]
    lwt = one(docs, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    assert lwt["size"] == printed["nodes"]
    leader = container(lwt["leaderTemplate"]["spec"])
    assert leader["resources"]["limits"]["nvidia.com/gpu"] == printed["gpus_per_node"]
    planned = [a.replace("${HEAD_IP}", LEADER_IP) for a in printed["vllm"]["argv"]["node-0"]]
    assert effective_argv(leader, 0) == planned
    worker = container(lwt["workerTemplate"]["spec"])
    planned = [a.replace("${HEAD_IP}", LEADER_IP) for a in printed["vllm"]["argv"]["node-1"]]
    assert effective_argv(worker, 1) == planned
