"""Render properties: any accepted hardware, knobs and options render a bundle that holds up.

Hypothesis draws hardware (catalog and custom GPUs, counts, nodes, networks), planner knobs and
render options. Each input either plans and renders `all` into a bundle whose files agree with
the plan and keep the secure defaults, and that the domain rules pass; or it is refused with a
one-line PlanError (exit 3) or InputError (exit 2). The external validators run on fewer
examples (`tools` marker). HYPOTHESIS_PROFILE=fuzz (make fuzz) runs many more of each.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deploy_kit.catalog import load_catalog
from deploy_kit.errors import ExitCode, InputError, PlanError
from deploy_kit.planner import search as planner
from deploy_kit.renderer import RenderOptions, render_files
from deploy_kit.spec import CustomGpu, HardwareFile, HardwareProfile, Knobs, Plan
from deploy_kit.validate.structural.crd import BUNDLED_CRD_DIR
from deploy_kit.vllm.flags import check_argv

CATALOG = load_catalog()
FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
# Rejected inputs cost microseconds, accepted ones a render (~50 ms) and the domain rules.
EXAMPLES = 2000 if FUZZ else 150
TOOL_EXAMPLES = 60 if FUZZ else 4
CRDS = BUNDLED_CRD_DIR
SECRET_ENVS = {"VLLM_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}
WORKLOAD_KINDS = {"Deployment", "LeaderWorkerSet"}
IMAGE_RE = re.compile(
    r"^[^\s:@]+(?::\d+)?(?:/[^\s:@]+)*(?::(?P<tag>[\w][\w.-]*))?(?:@sha256:[0-9a-f]{64})?$"
)

custom_gpus = st.builds(
    CustomGpu,
    name=st.text(alphabet="abcXYZ019-", min_size=1, max_size=12),
    memory=st.integers(min_value=16 * 10**9, max_value=400 * 10**9),
    bandwidth_tbps=st.floats(min_value=0.5, max_value=10),
    arch=st.sampled_from(["hopper", "blackwell", "blackwell-ultra", "cdna3", "cdna4", "ampere"]),
    vendor=st.sampled_from(["nvidia", "amd"]),
    fp8=st.booleans(),
    fp4=st.booleans(),
)
# GPUs that hold V4 Flash on one 8-GPU node: most draws should plan, the rest probe refusals.
BIG_GPUS = sorted(
    g for g in ("h200", "b200", "b300", "mi325x", "mi355x", "gb200", "gb300") if g in CATALOG.gpus
)
hardware_files = st.builds(
    HardwareFile,
    gpu=st.one_of(
        st.sampled_from(BIG_GPUS),
        st.sampled_from(BIG_GPUS),
        st.sampled_from(sorted(CATALOG.gpus)),
        custom_gpus,
    ),
    gpus_per_node=st.sampled_from([1, 2, 4, 8, 8, 8]),
    nodes=st.sampled_from([1, 1, 1, 2, 3, 4]),
    network=st.sampled_from(["infiniband", "ethernet", "roce"]),
)
knobs = st.builds(
    Knobs,
    weights=st.sampled_from(["native", "native", "native", "fp8", "nvfp4"]),
    context=st.one_of(st.none(), st.none(), st.sampled_from([8192, 65536, 131072, 1048576])),
    concurrency=st.one_of(st.none(), st.integers(min_value=1, max_value=256)),
    optimize=st.sampled_from(["capacity", "latency", "throughput"]),
    tp=st.one_of(st.none(), st.none(), st.sampled_from([1, 2, 4, 8])),
    ep=st.one_of(st.none(), st.booleans()),
    gpu_memory_utilization=st.one_of(st.none(), st.floats(min_value=0.6, max_value=0.95)),
    max_num_batched_tokens=st.one_of(st.none(), st.sampled_from([2048, 8192, 16384])),
    async_scheduling=st.one_of(st.none(), st.booleans()),
    speculative=st.booleans(),
)
render_options = st.builds(
    RenderOptions,
    name=st.one_of(st.none(), st.from_regex(r"[a-z][a-z0-9-]{0,18}[a-z0-9]", fullmatch=True)),
    namespace=st.one_of(st.none(), st.just("inference")),
    model_cache=st.sampled_from(["pvc", "pvc", "hostPath", "emptyDir"]),
    storage_class=st.one_of(st.none(), st.just("fast-ssd")),
    api_key=st.booleans(),
    publish_address=st.sampled_from(["127.0.0.1", "127.0.0.1", "0.0.0.0", "::1"]),
    network_policy=st.booleans(),
    autoscaling=st.sampled_from(["none", "hpa", "keda"]),
    monitoring=st.sampled_from(["none", "servicemonitor", "podmonitor"]),
    bake_weights=st.booleans(),
    infiniband=st.one_of(st.none(), st.booleans()),
)
models = st.sampled_from(
    ["deepseek-v4-flash", "deepseek-v4-flash", "deepseek-v4-pro", "deepseek-v4-flash-0731"]
)


def plan_and_render(
    hw_file: HardwareFile, k: Knobs, model: str, options: RenderOptions
) -> tuple[Plan, dict[str, str]] | None:
    """The plan and its bundle, or None when the input is refused with a clear one-liner."""
    try:
        hw = CATALOG.hardware_from_data(hw_file.model_dump(exclude_none=True), origin="prop")
        plan = planner.plan(CATALOG, model, hw, k, suggest=False)
    except (PlanError, InputError) as exc:
        _assert_clear(exc)
        event(f"refused: {type(exc).__name__}")
        return None
    event(f"planned: {plan.nodes} node(s)")
    try:
        return plan, render_files(plan, "all", options)
    except InputError as exc:
        _assert_clear(exc)
        exposed = options.publish_address not in ("127.0.0.1", "::1") and not options.api_key
        assert plan.what_if or exposed, f"render refused an accepted plan: {exc.message}"
        event("refused at render: " + ("what-if plan" if plan.what_if else "exposed, no key"))
        return None


def _assert_clear(exc: PlanError | InputError) -> None:
    assert exc.message and "\n" not in exc.message and "Traceback" not in exc.message
    expected = ExitCode.NO_FIT if isinstance(exc, PlanError) else ExitCode.BAD_INPUT
    assert exc.exit_code == expected


def write(files: dict[str, str], root: Path) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(hw_file=hardware_files, k=knobs, model=models, options=render_options)
def test_render_property_bundle_agrees_with_plan(
    hw_file: HardwareFile, k: Knobs, model: str, options: RenderOptions
) -> None:
    done = plan_and_render(hw_file, k, model, options)
    if done is None:
        return
    plan, files = done
    check_plan(plan)
    check_kubernetes(plan, options, files)
    check_compose(plan, options, files)
    check_docker(plan, files)
    check_helm(plan, files)
    assert not [rel for rel, text in files.items() if ":latest" in text]
    with tempfile.TemporaryDirectory(prefix="dk-prop-") as tmp:
        write(files, Path(tmp))
        assert_lint_clean(Path(tmp), plan.hardware, tools=False)


@pytest.mark.tools
@settings(max_examples=TOOL_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(hw_file=hardware_files, k=knobs, model=models, options=render_options)
def test_render_property_bundle_passes_external_validators(
    hw_file: HardwareFile, k: Knobs, model: str, options: RenderOptions
) -> None:
    done = plan_and_render(hw_file, k, model, options)
    if done is None:
        return
    plan, files = done
    with tempfile.TemporaryDirectory(prefix="dk-prop-") as tmp:
        write(files, Path(tmp))
        assert_lint_clean(Path(tmp), plan.hardware, tools=True)


def assert_lint_clean(root: Path, hardware: HardwareProfile, *, tools: bool) -> None:
    """Every validator and domain rule: zero errors (warnings are advice, not failures)."""
    from deploy_kit.validate.lint import lint_paths

    crds = sorted(CRDS.glob("*.yaml"))
    report = lint_paths([root], crds=crds, hardware=hardware, tools=tools)
    errors = [f for f in report.findings if f.severity == "error"]
    assert not errors, "\n".join(f"{f.rule}: {f.message}" for f in errors)


# --- invariants -----------------------------------------------------------------------------


def check_plan(plan: Plan) -> None:
    world = plan.tensor_parallel * plan.pipeline_parallel * plan.data_parallel
    assert world == plan.nodes * plan.gpus_per_node
    assert world * plan.replicas == plan.hardware.total_gpus
    for role, argv in plan.vllm.argv.items():
        problems = [p for p in check_argv(argv, plan.vllm_version) if p.severity == "error"]
        assert not problems, f"{role}: {[p.message for p in problems]}"
    ready = plan.vllm.env.get("VLLM_ENGINE_READY_TIMEOUT_S")
    assert ready is None or int(ready) >= plan.load_time_s


def _docs(files: dict[str, str], prefix: str) -> Iterator[dict[str, Any]]:
    for rel in sorted(files):
        if rel.startswith(prefix) and rel.endswith(".yaml"):
            yield from (d for d in yaml.safe_load_all(files[rel]) if isinstance(d, dict))


def _pod_templates(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] == "Deployment":
        return [doc["spec"]["template"]]
    group = doc["spec"]["leaderWorkerTemplate"]
    return [group["leaderTemplate"], group["workerTemplate"]]


def check_kubernetes(plan: Plan, options: RenderOptions, files: dict[str, str]) -> None:
    docs = list(_docs(files, "kubernetes/"))
    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    assert len(workloads) == 1
    (workload,) = workloads
    if plan.nodes > 1:
        assert workload["kind"] == "LeaderWorkerSet"
        assert workload["spec"]["leaderWorkerTemplate"]["size"] == plan.nodes
    else:
        assert workload["kind"] == "Deployment"
    if options.autoscaling == "none":
        assert workload["spec"]["replicas"] == plan.replicas
    resource = plan.hardware.gpu.k8s_resource
    for template in _pod_templates(workload):
        spec = template["spec"]
        (container,) = spec["containers"]
        check_image(container["image"])
        res = container["resources"]
        for part in ("requests", "limits"):
            assert int(res[part][resource]) == plan.gpus_per_node, part
            assert {"cpu", "memory"} <= set(res[part]), part
        check_security_context(plan, container["securityContext"], spec["securityContext"])
        check_env(options, container.get("env", []))
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        if world_size(plan) > 1:
            assert mounts.get("dshm") == "/dev/shm"
            assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
        host_paths = [v for v in volumes.values() if "hostPath" in v]
        assert bool(host_paths) == (options.model_cache == "hostPath")
        if "startupProbe" in container:
            probe = container["startupProbe"]
            assert probe["periodSeconds"] * probe["failureThreshold"] >= plan.load_time_s
    assert any(
        "startupProbe" in c for t in _pod_templates(workload) for c in t["spec"]["containers"]
    )
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert bool(policies) == options.network_policy
    for policy in policies:
        ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule.get("ports", [])]
        assert ports and set(ports) <= {8000, "http"}, ports
        open_rules = [r for r in policy["spec"]["ingress"] if "ports" not in r]
        assert all("from" in r for r in open_rules)  # unrestricted ports only between our pods
        assert not open_rules or plan.nodes > 1


def check_security_context(plan: Plan, container: dict[str, Any], pod: dict[str, Any]) -> None:
    assert container["allowPrivilegeEscalation"] is False
    assert container.get("privileged") is not True
    assert container["capabilities"]["drop"] == ["ALL"]
    added = set(container["capabilities"].get("add") or [])
    assert added <= {"IPC_LOCK"} and (not added or plan.nodes > 1)
    seccomp = container.get("seccompProfile") or pod.get("seccompProfile")
    assert seccomp == {"type": "RuntimeDefault"}


def check_env(options: RenderOptions, env: list[dict[str, Any]]) -> None:
    by_name = {e["name"]: e for e in env}
    for name in SECRET_ENVS & set(by_name):
        assert "value" not in by_name[name], f"{name} inline"
        assert "secretKeyRef" in by_name[name]["valueFrom"]
    assert ("VLLM_API_KEY" in by_name) == options.api_key


def world_size(plan: Plan) -> int:
    return plan.tensor_parallel * plan.pipeline_parallel * plan.data_parallel


def check_image(image: str) -> None:
    match = IMAGE_RE.match(image)
    assert match, image
    assert "@sha256:" in image or (match["tag"] and match["tag"] != "latest"), image


def _seconds(text: str) -> int:
    assert text.endswith("s"), text
    return int(text[:-1])


def check_compose(plan: Plan, options: RenderOptions, files: dict[str, str]) -> None:
    composes = [rel for rel in files if rel.startswith("compose/") and rel.endswith("compose.yaml")]
    assert len(composes) == (plan.nodes if plan.nodes > 1 else 1)
    for rel in composes:
        for name, service in yaml.safe_load(files[rel])["services"].items():
            check_image(service["image"])
            assert service["cap_drop"] == ["ALL"]
            assert set(service.get("cap_add", [])) <= {"IPC_LOCK"}
            assert "no-new-privileges:true" in service["security_opt"]
            assert not SECRET_ENVS & set(service.get("environment", {})), name
            assert "env_file" in service and "privileged" not in service
            if world_size(plan) > 1:
                assert "shm_size" in service or service.get("ipc") == "host"
            devices = service.get("deploy", {}).get("resources", {}).get("reservations", {})
            for device in devices.get("devices", []):
                count = device.get("count") or len(device.get("device_ids", []))
                assert count == plan.gpus_per_node
            health = service["healthcheck"]
            if not health.get("disable"):
                assert _seconds(health["start_period"]) >= plan.load_time_s
            for port in service.get("ports", []):
                assert str(port).startswith(f"[{options.publish_address}]:") or str(
                    port
                ).startswith(f"{options.publish_address}:"), port


def check_docker(plan: Plan, files: dict[str, str]) -> None:
    text = files["docker/Dockerfile"]
    for line in text.splitlines():
        if line.startswith("FROM "):
            check_image(line.split()[1])
    start = re.search(r"--start-period=(\d+)s", text)
    assert start and int(start[1]) >= plan.load_time_s
    if plan.hardware.gpu.vendor == "nvidia":
        user = re.findall(r"^USER (\S+)", text, flags=re.M)
        assert user and not user[-1].startswith(("0", "root")), user


def check_helm(plan: Plan, files: dict[str, str]) -> None:
    values = yaml.safe_load(files["helm/values.yaml"])
    par = values["parallelism"]
    assert par["tensor"] * par["pipeline"] * par["data"] == par["nodes"] * par["gpusPerNode"]
    assert (par["nodes"], par["gpusPerNode"], values["replicas"]) == (
        plan.nodes,
        plan.gpus_per_node,
        plan.replicas,
    )
    image = values["image"]
    assert image["digest"] or image["tag"] not in ("", "latest")
    startup = values["probes"]["startup"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= plan.load_time_s
    for role in ("leader", "worker"):
        argv = [*values["vllm"][role].get("command", []), *values["vllm"][role].get("args", [])]
        if argv[:2] == ["vllm", "serve"] and "$(" not in " ".join(argv):
            problems = [p for p in check_argv(argv, plan.vllm_version) if p.severity == "error"]
            assert not problems, f"helm {role}: {[p.message for p in problems]}"
