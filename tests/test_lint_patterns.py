"""Lint on the shapes real deployment files take: bundled CRDs by default, secrets left for
envsubst, template placeholders, Ray and KServe launches, LWS environment variables."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deploy_kit.validate.crd import BUNDLED_CRD_DIR, bundled_crds, bundled_crds_for, load_crds
from deploy_kit.validate.documents import parse_yaml_docs
from deploy_kit.validate.findings import Finding
from deploy_kit.validate.lint import lint_paths
from deploy_kit.validate.placeholders import first_placeholder, parse_documents, split_documents

REPO = Path(__file__).resolve().parent.parent
REAL = REPO / "tests" / "fixtures" / "lint" / "real"
LWS_RAY = REAL / "lws-vllm-gpu-ray.yaml"


def lint_text(tmp_path: Path, name: str, text: str) -> list[Finding]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return lint_paths([path], tools=False).findings


def rules(findings: list[Finding], severity: str | None = None) -> list[str]:
    return sorted(f.rule for f in findings if severity is None or f.severity == severity)


# --- bundled CRDs ---------------------------------------------------------------------------


def test_every_bundled_crd_loads_and_is_listed_in_sources() -> None:
    sources = (BUNDLED_CRD_DIR / "SOURCES.md").read_text(encoding="utf-8")
    kinds = set()
    for path in bundled_crds():
        assert path.name in sources, f"{path.name} has no line in SOURCES.md"
        registry = load_crds([path])
        assert registry, path.name
        (group, kind), *_ = registry
        # controller-gen's file name, which bundled_crds_for relies on.
        assert path.name.startswith(group + "_"), path.name
        kinds.add(kind)
    expected = {"LeaderWorkerSet", "ServiceMonitor", "PodMonitor", "ScaledObject"}
    assert expected | {"RayCluster", "RayService", "LLMInferenceService"} <= kinds


def test_only_the_crds_of_groups_in_use_are_loaded() -> None:
    docs = parse_yaml_docs(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n---\napiVersion: v1\nkind: Service\n",
        "x.yaml",
    )
    assert [p.name for p in bundled_crds_for(docs)] == ["keda.sh_scaledobjects.yaml"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            """\
            apiVersion: leaderworkerset.x-k8s.io/v1
            kind: LeaderWorkerSet
            metadata: {name: typo}
            spec:
              leaderWorkerTemplate:
                sizee: 2
                workerTemplate: {spec: {containers: [{name: c, image: busybox:1.36}]}}
            """,
            "spec.leaderWorkerTemplate.sizee",
        ),
        (
            """\
            apiVersion: keda.sh/v1alpha1
            kind: ScaledObject
            metadata: {name: s}
            spec:
              scaleTargetRef: {name: vllm}
              minReplicaCont: 1
              triggers: [{type: prometheus, metadata: {threshold: "5"}}]
            """,
            "spec.minReplicaCont",
        ),
        (
            """\
            apiVersion: ray.io/v1
            kind: RayCluster
            metadata: {name: r}
            spec:
              headGroupSpec:
                rayStartParam: {}
                template: {spec: {containers: [{name: ray-head, image: rayproject/ray:2.9.0}]}}
            """,
            "spec.headGroupSpec.rayStartParam",
        ),
        (
            """\
            apiVersion: serving.kserve.io/v1alpha1
            kind: LLMInferenceService
            metadata: {name: l}
            spec:
              model: {uri: "hf://deepseek-ai/DeepSeek-R1-0528", name: deepseek-ai/DeepSeek-R1}
              paralelism: {tensor: 8}
            """,
            "spec.paralelism",
        ),
    ],
    ids=["lws", "scaledobject", "raycluster", "llminferenceservice"],
)
def test_custom_resources_are_schema_checked_without_crd(
    tmp_path: Path, text: str, field: str
) -> None:
    findings = lint_text(tmp_path, "cr.yaml", text)
    assert ("crd-schema", field) in [(f.rule, f.path) for f in findings]
    assert "k8s-schema/no-schema" not in rules(findings)


def test_a_given_crd_still_adds_kinds(tmp_path: Path) -> None:
    crd = tmp_path / "crd.yaml"
    crd.write_text(
        textwrap.dedent(
            """\
            apiVersion: apiextensions.k8s.io/v1
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
                        spec: {type: object, properties: {size: {type: integer}}}
            """
        ),
        encoding="utf-8",
    )
    cr = tmp_path / "cr" / "w.yaml"
    cr.parent.mkdir()
    cr.write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {sise: 1}\n",
        encoding="utf-8",
    )
    findings = lint_paths([cr], crds=[crd], tools=False).findings
    assert [(f.rule, f.path) for f in findings] == [("crd-schema", "spec.sise")]


# --- secrets --------------------------------------------------------------------------------

_SECRET_POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  containers:
    - name: c
      image: vllm/vllm-openai:v0.33.0
      args: [Qwen/Qwen3-0.6B]
      resources: {{limits: {{nvidia.com/gpu: 1}}}}
      env:
        - {{name: SOURCE, valueFrom: {{secretKeyRef: {{name: hf, key: token}}}}}}
        - {env}
"""


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ("{name: HF_TOKEN, value: $HF_TOKEN}", "does not expand"),
        ('{name: HUGGING_FACE_HUB_TOKEN, value: "${HF_TOKEN}"}', "does not expand"),
        ('{name: VLLM_API_KEY, value: "{{ .Values.apiKey }}"}', "placeholder"),
        ('{name: NOTE, value: "hf_abcdefghijklmnopqrstuvwxyz012345"}', "hf_/sk-"),
        ('{name: HF_TOKEN, value: "literal-value"}', "literal secret"),
    ],
)
def test_token_variables_holding_text_are_flagged_with_why(
    tmp_path: Path, env: str, why: str
) -> None:
    findings = lint_text(tmp_path, "p.yaml", _SECRET_POD.format(env=env))
    secret = [f for f in findings if f.rule == "DK112"]
    assert len(secret) == 1, findings
    assert why in secret[0].message
    assert "abcdefghij" not in secret[0].message and "literal-value" not in secret[0].message


@pytest.mark.parametrize(
    "env",
    [
        "{name: HF_TOKEN, valueFrom: {secretKeyRef: {name: hf, key: token}}}",
        "{name: HF_TOKEN, value: $(SOURCE)}",  # Kubernetes expands $(VAR) from the Secret
        '{name: MAX_TOKENS, value: "$LIMIT"}',  # not a credential
    ],
)
def test_token_variables_by_reference_pass(tmp_path: Path, env: str) -> None:
    findings = lint_text(tmp_path, "p.yaml", _SECRET_POD.format(env=env))
    assert "DK112" not in rules(findings)


def test_compose_interpolation_is_the_intended_way(tmp_path: Path) -> None:
    compose = """\
        services:
          vllm:
            image: vllm/vllm-openai:v0.33.0
            command: [Qwen/Qwen3-0.6B]
            environment:
              HF_TOKEN: ${HF_TOKEN}
    """
    assert "DK112" not in rules(lint_text(tmp_path, "compose.yaml", compose))


def test_dockerfile_env_from_a_build_arg_is_baked_in(tmp_path: Path) -> None:
    text = """\
        FROM vllm/vllm-openai:v0.33.0
        ARG HF_TOKEN
        ENV HF_TOKEN=${HF_TOKEN}
        CMD ["Qwen/Qwen3-0.6B"]
    """
    [found] = [f for f in lint_text(tmp_path, "Dockerfile", text) if f.rule == "DK112"]
    assert found.line == 3 and "stores the build-time value" in found.message


# --- placeholders ---------------------------------------------------------------------------

_PLACEHOLDER_FILE = """\
# a Secret filled in by a template step, then a Deployment
apiVersion: v1
kind: Secret
metadata: {name: hf}
stringData:
  token: {{HF_TOKEN}}
---
apiVersion: v1
kind: Service
metadata: {name: vllm}
spec:
  selector: {app: vllm}
  ports: [{port: 8000}]
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: c
      image: vllm/vllm-openai:latest
      args: [Qwen/Qwen3-0.6B]
"""


def test_placeholder_document_gets_one_finding_and_the_rest_is_linted(tmp_path: Path) -> None:
    findings = lint_text(tmp_path, "all.yaml", _PLACEHOLDER_FILE)
    broken = [f for f in findings if f.rule.startswith("yaml/")]
    assert [(f.rule, f.line, f.document) for f in broken] == [("yaml/placeholder", 6, 0)]
    assert "{{HF_TOKEN}}" in broken[0].message and "line 6" in broken[0].message
    # The Pod two documents later is still linted, at its own line.
    [latest] = [f for f in findings if f.rule == "DK111"]
    assert (latest.line, latest.document) == (21, 2)


def test_shell_placeholder_that_breaks_yaml(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  x: ${A}: b\n"
    [found] = [f for f in lint_text(tmp_path, "c.yaml", text) if f.severity == "error"]
    assert (found.rule, found.line) == ("yaml/placeholder", 5) and "${A}" in found.message


def test_syntax_error_without_placeholder_stays_a_syntax_error() -> None:
    docs, findings = parse_documents("a: 1\n---\nb: [1\n---\nc: 3\n", "f.yaml")
    assert [(d.index, d.line, d.data) for d in docs] == [(0, 1, {"a": 1}), (2, 5, {"c": 3})]
    assert [(f.rule, f.document) for f in findings] == [("yaml/syntax", 1)]


def test_split_documents_keeps_indexes_and_lines() -> None:
    text = "# head\n---\na: 1\n---\nb: |\n  ---x\n...\n---\nc: 1\n"
    chunks = split_documents(text)
    assert [(c.index, c.first_line) for c in chunks] == [(0, 2), (1, 4), (2, 8)]
    assert first_placeholder("# {{X}}\nv: ${Y:-1}\n") == ("${Y:-1}", 2)
    assert first_placeholder("v: $Y\n") is None
