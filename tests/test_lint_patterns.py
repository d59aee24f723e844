"""Lint on the shapes real deployment files take: bundled CRDs by default, secrets left for
envsubst, template placeholders, Ray and KServe launches, LWS environment variables."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deploy_kit.catalog import Catalog
from deploy_kit.validate.documents import parse_yaml_docs
from deploy_kit.validate.findings import Finding
from deploy_kit.validate.lint import lint_paths
from deploy_kit.validate.placeholders import first_placeholder, parse_documents, split_documents
from deploy_kit.validate.structural.crd import (
    BUNDLED_CRD_DIR,
    bundled_crds,
    bundled_crds_for,
    load_crds,
)

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


# --- launch patterns: Ray, llm-d, KServe, api_server ------------------------------------------


def test_lws_vllm_example_over_ray_is_counted_over_the_group() -> None:
    # LWS's own example: TP 8 x PP 2 over a group of 2 pods x 8 GPUs, started through Ray.
    findings = lint_paths([LWS_RAY], tools=False).findings
    assert not [f for f in findings if f.rule in ("DK101", "DK102", "DK103")], findings
    # Its real problem: `value: $HF_TOKEN`, which Kubernetes hands over as those characters.
    tokens = [f for f in findings if f.rule == "DK112"]
    assert [f.line for f in tokens] == [20, 68]
    assert all("does not expand" in f.message for f in tokens)


@pytest.mark.parametrize(
    ("old", "new", "rule", "severity", "words"),
    [
        ("LAST", 'nvidia.com/gpu: "4"', "DK101", "error",
         "needs 16 GPU(s) from the Ray cluster, which has at most 12"),
        ("size: 2", "size: 3", "DK101", "warning", "8 stay idle"),
        ("--ray_cluster_size=$(LWS_GROUP_SIZE)", "--ray_cluster_size=3", "DK102", "error",
         "waits for 3 Ray node(s)"),
    ],
    ids=["worker-gpus", "group-larger", "cluster-size"],
)  # fmt: skip
def test_ray_group_mistakes(
    tmp_path: Path, old: str, new: str, rule: str, severity: str, words: str
) -> None:
    text = LWS_RAY.read_text(encoding="utf-8")
    if old == "LAST":  # the worker's GPU limit, the last one in the file
        head, _, tail = text.rpartition('nvidia.com/gpu: "8"')
        text, old = head + "WORKER_GPUS" + tail, "WORKER_GPUS"
    assert old in text
    findings = lint_text(tmp_path, "lws.yaml", text.replace(old, new))
    found = [f for f in findings if f.rule == rule]
    assert len(found) == 1 and found[0].severity == severity and words in found[0].message
    assert not [f for f in findings if f.rule in ("DK101", "DK102") and f is not found[0]]


_RAY_HEAD = """\
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers:
          - name: ray-head
            image: vllm/vllm-openai:v0.33.0
            command: [sh, -c]
            args: ["vllm serve Qwen/Qwen3-32B --tensor-parallel-size 4 --pipeline-parallel-size 2"]
            env:
              - {name: VLLM_USE_V1, value: "1"}
              - {name: HF_TOKEN, value: not-a-reference}
  workerGroupSpecs:
    - groupName: gpu
      REPLICAS
      rayStartParams: {}
      template:
        spec:
          containers:
            - name: ray-worker
              image: vllm/vllm-openai
              resources:
                limits: {nvidia.com/gpu: 4}
              volumeMounts: [{name: dshm, mountPath: /dev/shm}]
          volumes: [{name: dshm, emptyDir: {medium: Memory}}]
"""


@pytest.mark.parametrize(
    ("header", "nest"),
    [
        ("apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: r}\nspec:\n", 0),
        ("apiVersion: ray.io/v1\nkind: RayService\nmetadata: {name: r}\n"
         "spec:\n  rayClusterConfig:\n", 2),
        ("apiVersion: orchestration.aibrix.ai/v1alpha1\nkind: RayClusterFleet\n"
         "metadata: {name: r}\nspec:\n  replicas: 1\n  template:\n    spec:\n", 4),
    ],
    ids=["RayCluster", "RayService", "RayClusterFleet"],
)  # fmt: skip
def test_every_ray_pod_template_is_walked(tmp_path: Path, header: str, nest: int) -> None:
    body = _RAY_HEAD.replace("REPLICAS", "replicas: 2")
    text = header + textwrap.indent(body, " " * nest)
    findings = lint_text(tmp_path, "ray.yaml", text)
    got = {(f.rule, f.severity) for f in findings if f.rule.startswith("DK")}
    # Env of the head (removed variable, literal token), the worker's image; 2 x 4 GPUs = TP 4 x
    # PP 2 over Ray, so no GPU-count finding.
    assert got == {("DK114", "error"), ("DK112", "error"), ("DK111", "error")}, findings
    lonely = lint_text(tmp_path, "one.yaml", header + textwrap.indent(
        _RAY_HEAD.replace("REPLICAS", "replicas: 1"), " " * nest))  # fmt: skip
    assert [f.severity for f in lonely if f.rule == "DK101"] == ["error"]


def test_kuberay_replicas_as_kuberay_counts_them(tmp_path: Path) -> None:
    header = "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: r}\nspec:\n"
    # Without the autoscaler: replicas (default 0) clamped to minReplicas 1, so 1 x 4 GPUs.
    group = _RAY_HEAD.replace("REPLICAS", "minReplicas: 1\n      maxReplicas: 4")
    [short] = [f for f in lint_text(tmp_path, "fixed.yaml", header + group) if f.rule == "DK101"]
    assert "at most 4 (1 head pod(s) x 0, 1 worker pod(s) x 4)" in short.message
    # With it, up to maxReplicas 4 x 4 GPUs: the 8 the engine asks for can come.
    scaled = header + "  enableInTreeAutoscaling: true\n" + group
    assert "DK101" not in rules(lint_text(tmp_path, "scaled.yaml", scaled))
    # Unbounded maxReplicas (the CRD default) is not a count at all; suspended groups are 0.
    open_ended = (
        header
        + "  enableInTreeAutoscaling: true\n"
        + _RAY_HEAD.replace("REPLICAS", "minReplicas: 0")
    )
    assert "DK101" not in rules(lint_text(tmp_path, "open.yaml", open_ended))
    suspended = header + _RAY_HEAD.replace("REPLICAS", "replicas: 2\n      suspend: true")
    assert "DK101" in rules(lint_text(tmp_path, "suspended.yaml", suspended))


def test_shell_words_expand_from_env_and_lws() -> None:
    from deploy_kit.validate.invocations.base import Where, expand_shell, find_vllm, ray_start

    known = {"DP_SIZE_LOCAL": "8", "LWS_GROUP_SIZE": "2"}
    assert expand_shell("$((LWS_GROUP_SIZE * DP_SIZE_LOCAL))", known) == "16"
    assert expand_shell("$(( ${LWS_WORKER_INDEX:-0} * DP_SIZE_LOCAL ))", known) == (
        "$((LWS_WORKER_INDEX * 8))"
    )
    assert expand_shell("${DP_SIZE_LOCAL}-$UNKNOWN", known) == "8-$UNKNOWN"
    assert expand_shell("$((7 / 2)) $((-7 / 2)) $((7 % 0))", {}) == "3 -3 $((7 % 0))"
    script = (
        "A=1\nif x; then A=2; fi\nB=$((DP_SIZE_LOCAL * 2))\n"
        "exec vllm serve m --data-parallel-size $B --data-parallel-size-local $A"
    )
    found = find_vllm(["bash", "-c", script], [Where("f")] * 3, env=known)
    assert found.call is not None
    assert found.call.argv[3:] == ("--data-parallel-size", "16", "--data-parallel-size-local", "$A")
    w = Where("f")
    assert ray_start(["ray", "start", "--head", "--port=6379"], w) is not None
    worker = ray_start(["bash", "x/multi-node-serving.sh", "worker", "--ray_address=h"], w)
    assert worker is not None and worker.role == "worker"
    leader = ray_start(["/w/ray_init.sh", "leader", "--ray_cluster_size=4"], w)
    assert leader is not None and (leader.role, leader.cluster_size) == ("head", "4")
    assert ray_start(["ray", "status"], w) is None
    both = find_vllm(
        ["sh", "-c", "if [ $I = 0 ]; then ray start --head; vllm serve m; "
         "else ray start --address=$H:6379 --block; fi"], [w] * 3,
    )  # fmt: skip
    assert both.ray is not None and both.ray.role == "both" and both.call is not None


def test_llm_d_style_data_parallel_over_lws() -> None:
    good = lint_paths([REPO / "tests/fixtures/lint/good/k8s/llm-d-dp.yaml"], tools=False)
    assert good.findings == []
    text = (REPO / "tests/fixtures/lint/good/k8s/llm-d-dp.yaml").read_text(encoding="utf-8")
    assert '{name: DP_SIZE_LOCAL, value: "8"}' in text


def test_llm_d_style_wrong_local_ranks(tmp_path: Path) -> None:
    text = (REPO / "tests/fixtures/lint/good/k8s/llm-d-dp.yaml").read_text(encoding="utf-8")
    bad = text.replace('{name: DP_SIZE_LOCAL, value: "8"}', '{name: DP_SIZE_LOCAL, value: "4"}')
    [gpu] = [f for f in lint_text(tmp_path, "d.yaml", bad) if f.rule == "DK101"]
    assert "runs 4 rank(s)" in gpu.message


def test_kserve_llminferenceservice_parallelism(tmp_path: Path) -> None:
    text = (REPO / "tests/fixtures/lint/good/k8s/llmisvc.yaml").read_text(encoding="utf-8")
    assert lint_text(tmp_path, "ok.yaml", text) == []
    fewer = text.replace('nvidia.com/gpu: "8"', 'nvidia.com/gpu: "4"', 1)
    [gpu] = [f for f in lint_text(tmp_path, "gpu.yaml", fewer) if f.rule == "DK101"]
    assert "tensor 1 x dataLocal 8 = 8 rank(s)" in gpu.message and gpu.line == 23
    uneven = text.replace("data: 16", "data: 12")
    assert [f.rule for f in lint_text(tmp_path, "dp.yaml", uneven)] == ["DK102"]


def test_kserve_serving_runtime_is_walked(tmp_path: Path) -> None:
    text = """\
        apiVersion: serving.kserve.io/v1alpha1
        kind: ServingRuntime
        metadata: {name: vllm}
        spec:
          supportedModelFormats: [{name: huggingface}]
          containers:
            - name: kserve-container
              image: vllm/vllm-openai:latest
              command: [python3, -m, vllm.entrypoints.openai.api_server]
              args: [--model, /mnt/models, --tensor-parallel-size, "2"]
              env: [{name: VLLM_ATTENTION_BACKEND, value: FLASHINFER}]
              resources: {limits: {nvidia.com/gpu: 1}}
    """
    got = rules(lint_text(tmp_path, "sr.yaml", text))
    assert {"DK101", "DK111", "DK114"} <= set(got), got


def test_api_server_module_given_as_args(tmp_path: Path) -> None:
    pod = """\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
            - name: c
              image: IMAGE
              args: [python3, -m, vllm.entrypoints.api_server, --model, m,
                     --tensor-parallel-size, "2"]
              resources: {limits: {nvidia.com/gpu: 1}}
    """
    # An image whose entrypoint runs the args: the server is found and its GPUs counted.
    own = lint_text(tmp_path, "own.yaml", pod.replace("IMAGE", "registry.local/vllm-serve:1.0"))
    assert rules(own) == ["DK101", "DK106"]  # and 2 ranks without /dev/shm
    # vLLM's image already runs `vllm serve`: the args name a program by mistake (DK118); the
    # call is still read as meant.
    vllm_image = lint_text(tmp_path, "vi.yaml", pod.replace("IMAGE", "vllm/vllm-openai:v0.33.0"))
    assert rules(vllm_image) == ["DK101", "DK106", "DK118"]


# --- legacy DeepSeek models -------------------------------------------------------------------


def test_legacy_catalog_matches_the_config_files(catalog: Catalog) -> None:
    configs = REPO / "tests" / "fixtures" / "configs"
    for model_id, name in (("deepseek-r1", "R1"), ("deepseek-v3.2", "V3.2")):
        config = json.loads((configs / f"deepseek-ai--DeepSeek-{name}_config.json").read_text())
        arch = catalog.legacy[model_id].arch
        for field, value in arch.model_dump().items():
            assert config.get(field) == value, (model_id, field)
    for model in catalog.legacy.values():
        assert model.status == "legacy" and model.source
        # MoE layers x experts x 3 x hidden x intermediate: 654B of the 671B.
        assert 650e9 < model.arch.routed_expert_params < 660e9
    assert {"deepseek-v3", "deepseek-r1", "deepseek-r1-0528", "deepseek-v3.1", "deepseek-v3.2"} == (
        set(catalog.legacy)
    )


def test_legacy_models_are_not_planned(catalog: Catalog) -> None:
    import deploy_kit
    from deploy_kit.errors import InputError

    with pytest.raises(InputError, match="legacy model"):
        deploy_kit.plan("deepseek-ai/DeepSeek-R1-0528", "8xH200")
    with pytest.raises(InputError, match="unknown model"):
        catalog.checkpoint("deepseek-ai/DeepSeek-V3-Base")
    assert catalog.legacy_model("/models/DeepSeek-V3.1/") is catalog.legacy["deepseek-v3.1"]


_LEGACY_POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  containers:
    - name: c
      image: vllm/vllm-openai:v0.33.0
      args: [{model}, --tensor-parallel-size, "{tp}", --max-model-len, "{length}"]
      env: [{{name: VLLM_ENGINE_READY_TIMEOUT_S, value: "7200"}}]
      startupProbe:
        httpGet: {{path: /health, port: 8000}}
        periodSeconds: 10
        failureThreshold: {failures}
      resources: {{limits: {{nvidia.com/gpu: {tp}}}}}
      volumeMounts: [{{name: dshm, mountPath: /dev/shm}}]
  volumes: [{{name: dshm, emptyDir: {{medium: Memory}}}}]
"""


def test_legacy_models_get_the_model_rules(tmp_path: Path) -> None:
    def run(model: str, tp: int, length: int, failures: int, **kw: object) -> list[str]:
        text = _LEGACY_POD.format(model=model, tp=tp, length=length, failures=failures)
        path = tmp_path / "p.yaml"
        path.write_text(text, encoding="utf-8")
        return rules(lint_paths([path], tools=False, **kw).findings)  # type: ignore[arg-type]

    assert run("deepseek-ai/DeepSeek-R1", 8, 131072, 360) == []
    assert run("deepseek-ai/DeepSeek-R1", 6, 131072, 360) == ["DK104"]  # 128 heads
    assert run("deepseek-ai/DeepSeek-V3.2", 8, 200000, 360) == ["DK109"]
    assert run("/models/DeepSeek-R1-0528", 8, 131072, 3) == ["DK107"]
    # Weights alone: 671B in FP8 over TP 4 is ~156 GiB per GPU, over an H200's 141 GB.
    assert run("deepseek-ai/DeepSeek-V3", 4, 131072, 360, hardware="8xH200") == ["DK110"]
    assert run("deepseek-ai/DeepSeek-V3", 8, 131072, 360, hardware="8xH200") == []
    # TP 0 is not a layout: no weight or load estimate is made from it.
    assert "DK110" not in run("deepseek-ai/DeepSeek-V3", 0, 131072, 360, hardware="8xH200")
    # A model the catalog does not know gets no model rule, whatever its numbers: no guess.
    assert run("someone/unknown-model", 6, 10_000_000, 3) == []


def test_real_files_keep_their_upstream_bytes() -> None:
    import hashlib

    sources = (REAL / "SOURCES.md").read_text(encoding="utf-8")
    for path in sorted(REAL.glob("*.yaml")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"| {path.name} |" in sources and digest in sources, path.name


def test_real_world_shapes_that_are_right(tmp_path: Path) -> None:
    # TPU chips count as the devices vLLM's ranks run on.
    tpu = """\
        apiVersion: v1
        kind: Pod
        metadata: {name: tpu}
        spec:
          containers:
            - name: c
              image: vllm/vllm-tpu:v0.11.1
              command: [vllm, serve, meta-llama/Llama-3.1-70B, --tensor-parallel-size, "8"]
              resources: {limits: {google.com/tpu: 8}}
              volumeMounts: [{name: dshm, mountPath: /dev/shm}]
          volumes: [{name: dshm, emptyDir: {medium: Memory}}]
    """
    assert lint_text(tmp_path, "tpu.yaml", tpu) == []
    assert "DK101" in rules(lint_text(tmp_path, "tpu4.yaml", tpu.replace("tpu: 8", "tpu: 4")))
    # One rank and no GPU request from an image that may be a CPU build: not flagged. vLLM's
    # GPU image without a GPU, or two ranks without one, is.
    cpu = """\
        apiVersion: v1
        kind: Pod
        metadata: {name: cpu}
        spec:
          containers:
            - name: c
              image: "registry.local/vllm-cpu:v0.33.0"
              command: [vllm, serve, Qwen/Qwen3-0.6B]
    """
    assert lint_text(tmp_path, "cpu.yaml", cpu) == []
    gpu_image = cpu.replace("registry.local/vllm-cpu", "vllm/vllm-openai")
    assert rules(lint_text(tmp_path, "gpu.yaml", gpu_image)) == ["DK101"]
    two = cpu.replace("Qwen/Qwen3-0.6B]", 'Qwen/Qwen3-0.6B, "-tp", "2"]')
    assert "DK101" in rules(lint_text(tmp_path, "two.yaml", two))
    # compose pulls the default of ${TAG:-latest} when TAG is unset.
    compose = """\
        services:
          vllm:
            image: registry.local/vllm:${TAG:-latest}
            command: [vllm, serve, Qwen/Qwen3-0.6B]
    """
    assert rules(lint_text(tmp_path, "compose.yaml", compose)) == ["DK111"]
    pinned = compose.replace("${TAG:-latest}", "${TAG:-v0.33.0}")
    assert lint_text(tmp_path, "compose.yaml", pinned) == []


def test_kuberay_mounts_dev_shm_and_crd_defaults_fill_required_fields(tmp_path: Path) -> None:
    header = "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: r}\nspec:\n"
    body = _RAY_HEAD.replace("REPLICAS", "replicas: 2").replace(
        "              volumeMounts: [{name: dshm, mountPath: /dev/shm}]\n"
        "          volumes: [{name: dshm, emptyDir: {medium: Memory}}]\n",
        "",
    )
    assert "dshm" not in body
    # minReplicas/maxReplicas are required but defaulted in the CRD; KubeRay mounts /dev/shm.
    got = rules(lint_text(tmp_path, "ray.yaml", header + body))
    assert "DK106" not in got and "crd-schema" not in got, got
    plasma = body.replace(
        "    - groupName: gpu\n      replicas: 2\n      rayStartParams: {}",
        "    - groupName: gpu\n      replicas: 2\n      rayStartParams: {plasma-directory: /tmp}",
    )
    assert plasma != body
    assert "DK106" in rules(lint_text(tmp_path, "plasma.yaml", header + plasma))
    # KubeRay sizes its /dev/shm to the container's memory limit: 512 MiB is too little.
    gpus = "limits: {nvidia.com/gpu: 4}"
    small = body.replace(gpus, gpus[:-1] + ", memory: 512Mi}")
    assert small != body
    [tiny] = [f for f in lint_text(tmp_path, "small.yaml", header + small) if f.rule == "DK106"]
    assert "512 MiB" in tiny.message


def test_a_key_given_to_api_key_is_one_finding(tmp_path: Path) -> None:
    pod = _SECRET_POD.format(env="{name: X, value: y}").replace(
        "args: [Qwen/Qwen3-0.6B]", "args: [Qwen/Qwen3-0.6B, --api-key, sk-abcdefghijklmnopqrstu]"
    )
    [found] = [f for f in lint_text(tmp_path, "p.yaml", pod) if f.rule == "DK112"]
    assert "--api-key is given a literal value" in found.message
    assert "abcdefgh" not in found.message


def test_ray_over_compose_files_counts_and_needs_the_host_network(tmp_path: Path) -> None:
    head = """\
        services:
          head:
            image: vllm/vllm-openai:v0.33.0
            entrypoint: [/bin/bash, -c]
            command:
              - ray start --head --port=6379 && exec vllm serve Qwen/Qwen3-32B
                --tensor-parallel-size 8 --pipeline-parallel-size 2
            NETWORK
            ipc: host
            gpus: [{driver: nvidia, count: 8, capabilities: [gpu]}]
    """
    worker = """\
        services:
          worker:
            image: vllm/vllm-openai:v0.33.0
            entrypoint: [/bin/bash, -c]
            command: ["ray start --address=10.0.0.1:6379 --block"]
            NETWORK
            ipc: host
            gpus: [{driver: nvidia, count: 8, capabilities: [gpu]}]
    """
    for name, text in (("node-0.compose.yaml", head), ("node-1.compose.yaml", worker)):
        (tmp_path / name).write_text(
            textwrap.dedent(text).replace("NETWORK", "network_mode: host"), encoding="utf-8"
        )
    assert lint_paths([tmp_path], tools=False).findings == []
    (tmp_path / "node-1.compose.yaml").write_text(
        textwrap.dedent(worker).replace("    NETWORK\n", "").replace("count: 8", "count: 4"),
        encoding="utf-8",
    )
    got = [(Path(f.file).name, f.rule) for f in lint_paths([tmp_path], tools=False).findings]
    assert sorted(got) == [("node-0.compose.yaml", "DK101"), ("node-1.compose.yaml", "DK115")]


def test_another_executor_on_a_ray_node_is_counted_per_pod(tmp_path: Path) -> None:
    text = LWS_RAY.read_text(encoding="utf-8").replace(
        "--pipeline_parallel_size 2", "--pipeline_parallel_size 2 --distributed-executor-backend mp"
    )
    [gpu] = [f for f in lint_text(tmp_path, "mp.yaml", text) if f.rule == "DK101"]
    assert "runs 16 rank(s) on this node" in gpu.message


def test_shell_arithmetic_is_bounded() -> None:
    from deploy_kit.validate.invocations.base import expand_shell

    long = "$((" + "1+" * 50_000 + "1))"
    assert expand_shell(long, {}) == long  # left alone, not evaluated (nor a RecursionError)
    assert expand_shell("$((2*(3+4)))", {}) == "14"
    assert expand_shell("$((2**64))", {}) == "$((2**64))"  # bash power: not evaluated here


def test_placeholder_search_is_linear_on_hostile_lines(tmp_path: Path) -> None:
    # Backtracking patterns took minutes on these; str.find and bounded classes take ms.
    n = 200_000
    for line in ("x: {{" + " " * n, "x: ${A:-" + " " * n, "{{-" * n, "${A" * n):
        assert first_placeholder(line + "\n") is None
    assert first_placeholder("v: {{ " + "x" * 200 + " }}\n") == ("{{ " + "x" * 74 + "...", 1)
    # One env value a template step would fill, made huge: one finding, at once.
    pod = _SECRET_POD.format(env="{name: HF_TOKEN, value: '{{" + " " * n + "}}'}")
    assert rules(lint_text(tmp_path, "p.yaml", pod)) == ["DK112"]


def test_kserve_inferenceservice_model_container_is_walked(tmp_path: Path) -> None:
    text = """\
        apiVersion: serving.kserve.io/v1beta1
        kind: InferenceService
        metadata: {name: llama}
        spec:
          predictor:
            model:
              modelFormat: {name: huggingface}
              args: [--model_name=llama, --backend=vllm]
              env:
                - {name: HF_TOKEN, value: $HF_TOKEN}
                - {name: VLLM_USE_V1, value: "1"}
              resources: {limits: {nvidia.com/gpu: "1"}}
    """
    found = [(f.rule, f.path) for f in lint_text(tmp_path, "isvc.yaml", text)]
    assert ("DK112", "spec.predictor.model.env[0].value") in found
    assert ("DK114", "spec.predictor.model.env[1].value") in found


_SHELLISH = st.text(alphabet="$(){}*+-/ %019AZ_az=;&|\"'\n\\:", max_size=60)


@given(_SHELLISH)
def test_shell_expansion_never_crashes(script: str) -> None:
    from deploy_kit.validate.invocations.base import Where, expand_shell, find_vllm

    assert isinstance(expand_shell(script, {"A": "2", "Z": "x"}), str)
    found = find_vllm(["sh", "-c", "A=1; " + script + " vllm serve m"], [Where("f")] * 3)
    assert found.shell_error is None or found.call is None  # a script that does not split


@given(st.text(alphabet="{}$-.:# \nab\t'\"[]", max_size=80))
def test_placeholder_split_never_crashes(text: str) -> None:
    from deploy_kit.errors import InputError

    try:
        docs, findings = parse_documents(text, "f.yaml")
    except InputError:
        return  # a shape limit, reported as bad input by the caller
    assert all(f.rule in ("yaml/placeholder", "yaml/syntax") for f in findings)
    assert all(d.line >= 1 for d in docs)


@settings(max_examples=25)
@given(
    model=st.sampled_from(
        ["deepseek-ai/DeepSeek-R1", "/m/DeepSeek-V3.2/", "deepseek-v3.1", "x/y", "DeepSeek-V4-Pro"]
    )
    | st.text(alphabet="abcXYZ-_/.0189", min_size=1, max_size=30),
    tp=st.integers(min_value=0, max_value=300),
    length=st.integers(min_value=-1, max_value=10**8),
)
def test_any_model_gets_findings_never_a_crash(model: str, tp: int, length: int) -> None:
    import tempfile

    text = _LEGACY_POD.format(model=json.dumps(model), tp=tp, length=length, failures=3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        path.write_text(text, encoding="utf-8")
        report = lint_paths([path], tools=False)
    assert all(f.rule.startswith(("DK", "crd", "k8s", "yaml")) for f in report.findings)


_SERVE = """\
apiVersion: ray.io/v1
kind: RayService
metadata: {name: llm}
spec:
  serveConfigV2: |
    applications:
    - name: llms
      import_path: ray.serve.llm:build_openai_app
      args:
        llm_configs:
        - model_loading_config: {model_id: qwen, model_source: Qwen/Qwen3-32B}
          engine_kwargs: {tensor_parallel_size: 4}
          deployment_config: {num_replicas: 2}
  rayClusterConfig:
    AUTOSCALING
    headGroupSpec:
      rayStartParams: {num-gpus: "0"}
      template:
        spec:
          containers: [{name: ray-head, image: "rayproject/ray-llm:2.52.0-py311-cu128"}]
    workerGroupSpecs:
    - groupName: gpu
      WORKERS
      rayStartParams: {}
      template:
        spec:
          containers:
          - name: ray-worker
            image: rayproject/ray-llm:2.52.0-py311-cu128
            resources: {limits: {nvidia.com/gpu: 4}}
"""


def test_ray_serve_llm_replicas_must_fit_the_cluster(tmp_path: Path) -> None:
    def run(autoscaling: str, workers: str) -> list[Finding]:
        text = _SERVE.replace("AUTOSCALING", autoscaling).replace("WORKERS", workers)
        return [f for f in lint_text(tmp_path, "svc.yaml", text) if f.rule == "DK101"]

    # 2 replicas x TP 4 = 8 GPUs on one 4-GPU worker: never placed.
    [short] = run("rayVersion: '2.52.0'", "replicas: 1")
    assert "needs 8 GPU(s)" in short.message and "at most 4" in short.message
    assert short.line == 5  # serveConfigV2
    assert run("rayVersion: '2.52.0'", "replicas: 2") == []
    assert run("enableInTreeAutoscaling: true", "minReplicas: 0\n      maxReplicas: 2") == []
    assert run("enableInTreeAutoscaling: true", "minReplicas: 0") == []  # unbounded: unknown
    # A worker that offers Ray no GPU (rayStartParams num-gpus 0) adds none.
    text = _SERVE.replace("AUTOSCALING", "rayVersion: '2.52.0'").replace("WORKERS", "replicas: 2")
    text = text.replace("      rayStartParams: {}\n", '      rayStartParams: {num-gpus: "0"}\n')
    assert [f.rule for f in lint_text(tmp_path, "n.yaml", text)] == ["DK101"]
