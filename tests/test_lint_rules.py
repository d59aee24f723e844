"""Lint building blocks without external tools: discovery, invocations, each DK rule's edges."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from deploy_kit.validate.discover import discover
from deploy_kit.validate.findings import Finding
from deploy_kit.validate.invocations.base import (
    EnvVar,
    Where,
    expand_k8s,
    find_vllm,
    shell_commands,
)
from deploy_kit.validate.invocations.compose import duration_s, size_bytes
from deploy_kit.validate.invocations.docker import dockerfile_containers, instructions
from deploy_kit.validate.invocations.k8s import quantity_bytes
from deploy_kit.validate.lint import lint_paths
from deploy_kit.validate.report import to_json
from deploy_kit.validate.rules.facts import RULES
from deploy_kit.validate.structural.crd import BUNDLED_CRD_DIR
from deploy_kit.vllm import argv as vllm

W = Where("f")
FLASH_ARGS = [
    "deepseek-ai/DeepSeek-V4-Flash",
    "--kv-cache-dtype=fp8",
    "--block-size=256",
    "--tokenizer-mode=deepseek_v4",
    "--tool-call-parser=deepseek_v4",
    "--reasoning-parser=deepseek_v4",
    "--max-model-len=131072",
]


def lint_text(tmp_path: Path, name: str, text: str, **kw: object) -> list[Finding]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return lint_paths([path], tools=False, **kw).findings  # type: ignore[arg-type]


def rules_of(findings: list[Finding], severity: str | None = None) -> list[str]:
    return sorted(f.rule for f in findings if severity is None or f.severity == severity)


def deployment(
    args: list[str],
    *,
    gpus: int | None = 8,
    env: str = '- {name: VLLM_ENGINE_READY_TIMEOUT_S, value: "3600"}',
    extra: str = "",
    pod_extra: str = "",
    image: str = "vllm/vllm-openai:v0.33.0",
    shm: bool = True,
) -> str:
    """A one-container Deployment (flow-style lines, so it dedents cleanly)."""
    limits = f"resources: {{limits: {{nvidia.com/gpu: {gpus}}}}}" if gpus is not None else ""
    mounts = "volumeMounts: [{name: dshm, mountPath: /dev/shm}]" if shm else ""
    volumes = "volumes: [{name: dshm, emptyDir: {medium: Memory}}]" if shm else ""
    lines = [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata: {name: t}",
        "spec:",
        "  selector: {matchLabels: {app: t}}",
        "  template:",
        "    metadata: {labels: {app: t}}",
        "    spec:",
        f"      {volumes}",
        f"      {pod_extra}",
        "      containers:",
        "        - name: vllm",
        f"          image: {image}",
        f"          args: {json.dumps(args)}",
        f"          env: [{env.removeprefix('- ')}]" if env else "",
        f"          {limits}",
        f"          {mounts}",
        f"          {extra}",
    ]
    return "\n".join(line for line in lines if line.strip()) + "\n"


# --- shell and argv -------------------------------------------------------------------------


def test_shell_commands_split_like_a_shell() -> None:
    script = (
        'test -n "$KEY" || { echo "no key" >&2; exit 78; }\n'
        "# a comment with vllm serve in it\n"
        "exec vllm serve m --data-parallel-start-rank $((LWS_WORKER_INDEX * 8)) "
        "--compilation-config '{\"mode\": 0}' 2>&1"
    )
    commands = shell_commands(script)
    assert commands[-1] == [
        "exec", "vllm", "serve", "m", "--data-parallel-start-rank",
        "$((LWS_WORKER_INDEX * 8))", "--compilation-config", '{"mode": 0}',
    ]  # fmt: skip
    assert not any("comment" in word for c in commands for word in c)
    assert shell_commands("a b#c") == [["a", "b#c"]]
    with pytest.raises(ValueError):
        shell_commands("vllm serve 'unterminated")


def test_find_vllm_direct_prefixed_and_module() -> None:
    found = find_vllm(["vllm", "serve", "m", "--tensor-parallel-size", "2"], [W] * 5)
    assert found.call is not None and found.call.parsed.value(vllm.F_TP) == "2"
    found = find_vllm(["env", "VLLM_USE_V1=1", "vllm", "serve", "m"], [W] * 5)
    assert found.call is not None and [e.name for e in found.inline_env] == ["VLLM_USE_V1"]
    module = ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "m"]
    found = find_vllm(module, [W] * 5)
    assert found.call is not None and found.call.parsed.model == "m"
    assert find_vllm(["nginx", "-g", "daemon off;"], [W] * 3).call is None


def test_find_vllm_in_sh_c_with_positional_args() -> None:
    where = [Where("f", path=("x", i)) for i in range(6)]
    tokens = ["/bin/sh", "-c", 'exec vllm serve "$@"', "vllm", "m", "--max-model-len=4096"]
    found = find_vllm(tokens, where)
    assert found.call is not None
    assert found.call.argv == ("vllm", "serve", "m", "--max-model-len=4096")
    assert found.call.wheres[2] == where[4]  # the positional keeps its own location
    assert found.call.expanded == (True, True, False, False)
    broken = find_vllm(["sh", "-c", "vllm serve 'oops"], [W] * 3)
    assert broken.call is None and broken.shell_error


def test_kubernetes_expansion_of_literal_env() -> None:
    env = [EnvVar("TP", "8", W), EnvVar("IP", None, W)]
    assert expand_k8s("$(TP)", env) == "8"
    assert expand_k8s("$(IP)", env) == "$(IP)"  # from a reference: known only at run time
    assert expand_k8s("$$(TP)", env) == "$(TP)"  # escaped
    assert expand_k8s("x-$(NOPE)", env) == "x-$(NOPE)"


def test_units() -> None:
    assert quantity_bytes("9Gi") == 9 * 2**30
    assert quantity_bytes("64M") == 64_000_000
    assert quantity_bytes("lots") is None
    assert size_bytes("9gb") == 9 * 2**30 and size_bytes("64m") == 64 * 2**20
    assert size_bytes(1024) == 1024 and size_bytes("big") is None
    assert duration_s("1m30s") == 90 and duration_s("3600s") == 3600
    assert duration_s("1h") == 3600 and duration_s("soon") is None


# --- Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_instructions_and_stages() -> None:
    text = textwrap.dedent(
        """\
        # syntax=docker/dockerfile:1
        FROM vllm/vllm-openai:v0.33.0 AS base
        ENV VLLM_ENGINE_READY_TIMEOUT_S=3600 \\
            # a comment inside a continuation
            HF_HOME=/cache
        RUN <<EOF
        echo "CMD [\\"not\\", \\"an instruction\\"]"
        EOF
        FROM base
        HEALTHCHECK NONE
        CMD ["deepseek-ai/DeepSeek-V4-Flash", "--block-size", "256"]
        """
    )
    keywords = [i.keyword for i in instructions(text)]
    assert keywords == ["FROM", "ENV", "RUN", "FROM", "HEALTHCHECK", "CMD"]
    (container,) = dockerfile_containers("Dockerfile", text, vllm.PINNED_VLLM)
    assert container.image == "vllm/vllm-openai:v0.33.0"  # through the `base` stage
    assert {e.name for e in container.env} == {"VLLM_ENGINE_READY_TIMEOUT_S", "HF_HOME"}
    assert container.probes == ()
    assert container.vllm is not None and container.vllm.argv[:2] == vllm.SERVE


def test_dockerfile_entrypoint_drops_inherited_cmd() -> None:
    text = 'FROM python:3.12-slim\nCMD ["python"]\nFROM 0\nFROM python:3.12-slim AS x\n'
    text += 'ENTRYPOINT ["sh", "-c", "exec vllm serve m"]\n'
    (container,) = dockerfile_containers("D", text, vllm.PINNED_VLLM)
    assert container.argv == ("sh", "-c", "exec vllm serve m")
    assert dockerfile_containers("D", "# nothing\n", vllm.PINNED_VLLM) == []


# --- discovery ----------------------------------------------------------------------------


def test_discovery_classifies_by_content_and_name(tmp_path: Path) -> None:
    (tmp_path / "svc.yml").write_text("services:\n  a: {image: x:1}\n", encoding="utf-8")
    (tmp_path / "values-prod.yaml").write_text("vllm: {port: 8000}\nreplicas: 1\n", "utf-8")
    (tmp_path / "kustomization.yaml").write_text("resources: []\n", encoding="utf-8")
    (tmp_path / "random.yaml").write_text("hello: world\n", encoding="utf-8")
    (tmp_path / "Containerfile").write_text("FROM x:1\n", encoding="utf-8")
    (tmp_path / "obj.json").write_text('{"apiVersion": "v1", "kind": "Pod"}', encoding="utf-8")
    (tmp_path / "data.json").write_text('{"a": 1}', encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text("apiVersion: v1\nkind: Pod\n", encoding="utf-8")
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: deepseek-v4\nversion: 0.1.0\n", encoding="utf-8")
    (chart / "values.yaml").write_text("vllm: {port: 8000}\n", encoding="utf-8")
    (chart / "templates" / "x.yaml").write_text("{{ .Values }}\n", encoding="utf-8")
    found = discover([tmp_path])
    kinds = {f.path.relative_to(tmp_path).as_posix(): f.kind for f in found.files}
    assert kinds == {
        "svc.yml": "compose",
        "values-prod.yaml": "helm-values",
        "kustomization.yaml": "kustomization",
        "Containerfile": "dockerfile",
        "obj.json": "kubernetes",
        "chart/values.yaml": "helm-values",
    }
    assert {f.chart for f in found.files if f.kind == "helm-values"} == {None, chart}
    skipped = {s.path.name for s in found.skipped}
    assert {"random.yaml", "data.json"} <= skipped and "x.yaml" not in skipped
    assert found.kustomizations == [tmp_path]


def test_discovery_of_a_rendered_bundle(tmp_path: Path) -> None:
    (tmp_path / ".deploy-kit-manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / "plan.json").write_text("{}", encoding="utf-8")
    (tmp_path / "helm").mkdir()
    (tmp_path / "helm" / "values.yaml").write_text("anything: 1\n", encoding="utf-8")
    found = discover([tmp_path])
    assert found.bundles == [tmp_path]
    assert [f.kind for f in found.files] == ["helm-values"]
    assert {s.reason for s in found.skipped} == {"bundle metadata"}


def test_missing_path_is_bad_usage(tmp_path: Path) -> None:
    from deploy_kit.errors import InputError

    with pytest.raises(InputError, match="no such file"):
        lint_paths([tmp_path / "nope"], tools=False)


# --- the rules, edge by edge -------------------------------------------------------------


def test_rule_table_is_complete() -> None:
    assert sorted(RULES) == [f"DK{n}" for n in range(100, 119)]
    for rule in RULES.values():
        assert rule.title and rule.hint and rule.name and rule.severity in ("error", "warning")


def test_clean_deployment_has_no_findings(tmp_path: Path) -> None:
    args = [*FLASH_ARGS, "--data-parallel-size=8", "--enable-expert-parallel"]
    assert lint_text(tmp_path, "d.yaml", deployment(args)) == []


def test_gpu_count_edges(tmp_path: Path) -> None:
    text = deployment([*FLASH_ARGS, "--tensor-parallel-size=8"], gpus=None)
    assert "DK101" in rules_of(lint_text(tmp_path, "none.yaml", text))
    # Kubernetes expands $(TP) from the literal env value before vLLM sees it.
    env = '- {name: VLLM_ENGINE_READY_TIMEOUT_S, value: "3600"}, {name: TP, value: "4"}'
    text = deployment([*FLASH_ARGS, "--tensor-parallel-size", "$(TP)"], env=env)
    assert "DK101" in rules_of(lint_text(tmp_path, "expanded.yaml", text))
    env = "{name: TP, valueFrom: {fieldRef: {fieldPath: metadata.name}}}"
    text = deployment([*FLASH_ARGS, "--tensor-parallel-size", "$(TP)"], env=env)
    assert "DK101" not in rules_of(lint_text(tmp_path, "symbolic.yaml", text))


ALL_GPUS = "{resources: {reservations: {devices: [{capabilities: [gpu], count: all}]}}}"


def devices(ids: list[str]) -> str:
    device = {"capabilities": ["gpu"], "device_ids": ids}
    return json.dumps({"resources": {"reservations": {"devices": [device]}}})


def test_compose_gpus_all_and_amd_visible_devices(tmp_path: Path) -> None:
    compose = f"""\
        services:
          a:
            image: vllm/vllm-openai:v0.33.0
            command: {json.dumps([*FLASH_ARGS, "--data-parallel-size=8"])}
            environment: {{VLLM_ENGINE_READY_TIMEOUT_S: "3600"}}
            shm_size: 16g
            deploy: {ALL_GPUS}
          b:
            image: vllm/vllm-openai-rocm:v0.33.0
            command: {json.dumps([*FLASH_ARGS, "--data-parallel-size=8"])}
            devices: [/dev/kfd, /dev/dri]
            environment: {{VLLM_ENGINE_READY_TIMEOUT_S: "3600", HIP_VISIBLE_DEVICES: "0,1,2,3"}}
            ipc: host
        """
    findings = lint_text(tmp_path, "compose.yaml", compose)
    gpu = [f for f in findings if f.rule == "DK101"]
    assert len(gpu) == 1 and "service b" in gpu[0].message and "4 GPU" in gpu[0].message
    assert "DK106" not in rules_of(findings)  # shm_size and ipc: host both count
    assert "DK117" in rules_of(findings)  # same model twice, GPUs not split by device_ids


def test_compose_replicas_on_disjoint_devices_are_not_unjoined(tmp_path: Path) -> None:
    args = json.dumps([*FLASH_ARGS, "--data-parallel-size=4", "--enable-expert-parallel"])
    services = "\n".join(
        f"""\
          r{i}:
            image: vllm/vllm-openai:v0.33.0
            command: {args}
            environment: {{VLLM_ENGINE_READY_TIMEOUT_S: "3600"}}
            shm_size: 16g
            deploy: {devices(ids)}"""
        for i, ids in enumerate((["0", "1", "2", "3"], ["4", "5", "6", "7"]))
    )
    findings = lint_text(tmp_path, "compose.yaml", "services:\n" + services + "\n")
    assert rules_of(findings, "error") == []


@pytest.mark.parametrize(
    ("second", "unjoined"),
    [
        ("container_name: llm, ports: ['8000:8000']", False),  # same container_name
        ("container_name: other, ports: ['${PORT:-8000}:80']", False),  # same host port
        ("container_name: other, ports: ['127.0.0.1:9000:80']", True),
        ("container_name: other", True),
    ],
)
def test_compose_alternative_services_are_not_unjoined(
    tmp_path: Path, second: str, unjoined: bool
) -> None:
    """Services compose cannot run together (one container_name or one published host port:
    a file offering one service per accelerator) are alternatives, not unjoined engines."""
    args = json.dumps(["--model", "Qwen/Qwen3-8B"])
    text = (
        "services:\n"
        f"  a: {{image: vllm/vllm-openai:v0.33.0, command: {args}, container_name: llm,"
        " ports: ['${PORT:-8000}:80', '8000:8000']}\n"
        f"  b: {{image: vllm/vllm-openai:v0.33.0, command: {args}, {second}}}\n"
    )
    assert ("DK117" in rules_of(lint_text(tmp_path, "compose.yaml", text))) is unjoined


@pytest.mark.parametrize(
    ("image", "command", "linted"),
    [
        ("opea/vllm-rocm:1.3", "--model m --swap-space 16", True),
        ("public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.10.1", "--model m --bogus", True),
        ("myorg/vllm-wrapper:1", "serve --bogus", False),  # not vLLM's --model first
        ("ghcr.io/huggingface/text-embeddings-inference:1.7", "--model m --bogus", False),
    ],
)
def test_third_party_vllm_images_given_flags_only(
    tmp_path: Path, image: str, command: str, linted: bool
) -> None:
    """An image named after vLLM given `--model ...` and no entrypoint hands the flags to
    vLLM's server (OPEA's vllm-rocm, the CPU release images): its flags are checked."""
    text = f"services:\n  s: {{image: '{image}', command: '{command}'}}\n"
    assert ("DK100" in rules_of(lint_text(tmp_path, "compose.yaml", text))) is linted


def test_shm_and_probes_edges(tmp_path: Path) -> None:
    args = [*FLASH_ARGS, "--data-parallel-size=8", "--enable-expert-parallel"]
    text = deployment(args, shm=False, pod_extra="hostIPC: true")
    assert "DK106" not in rules_of(lint_text(tmp_path, "hostipc.yaml", text))
    text = deployment(args, extra="readinessProbe: {httpGet: {path: /health, port: 8000}}")
    assert "DK107" not in rules_of(lint_text(tmp_path, "ready.yaml", text))  # never kills
    one_gpu = deployment(FLASH_ARGS, gpus=1, shm=False)
    assert "DK106" not in rules_of(lint_text(tmp_path, "one.yaml", one_gpu))


def test_ready_timeout_edges(tmp_path: Path) -> None:
    pro = [a.replace("Flash", "Pro") for a in FLASH_ARGS] + ["--data-parallel-size=8"]
    pro += ["--enable-expert-parallel"]
    unset = lint_text(tmp_path, "unset.yaml", deployment(pro, env=""))
    assert [f.severity for f in unset if f.rule == "DK108"] == ["error"]  # Pro: ~17 min
    env_from = "          envFrom: [{configMapRef: {name: env}}]\n"
    head = "      containers:\n        - name: vllm\n"
    text = deployment(pro, env="").replace(head, head + env_from)
    assert "DK108" not in rules_of(lint_text(tmp_path, "envfrom.yaml", text))


@pytest.mark.parametrize(
    ("extra_args", "env", "expected"),
    [
        # One API server starts the engines and waits for them with no deadline.
        (["--tensor-parallel-size=8"], "", []),
        (["--data-parallel-size=8", "--api-server-count=1"], "", []),
        (["--data-parallel-size=8", "--data-parallel-external-lb"], "", []),
        (["--data-parallel-size=8", "--data-parallel-rank=0"], "", []),
        # Several API servers wait VLLM_ENGINE_READY_TIMEOUT_S for the engines.
        (["--tensor-parallel-size=8", "--api-server-count=4"], "", ["error"]),
        (["--tensor-parallel-size=8", "-asc", "2"], "", ["error"]),
        (["--data-parallel-size=8"], "", ["error"]),  # defaults to one per DP rank
        (["--data-parallel-size=8", "--data-parallel-hybrid-lb"], "", []),  # local DP 1
        (
            ["-dp", "16", "--data-parallel-size-local=8", "--data-parallel-start-rank=0"],
            "",
            ["error"],  # hybrid by start rank: one API server per local rank
        ),
        (["--data-parallel-size=8", "--data-parallel-multi-port-external-lb"], "", ["error"]),
        (["--tensor-parallel-size=8"], "- {name: VLLM_USE_RUST_FRONTEND, value: '1'}", ["error"]),
        (["--tensor-parallel-size=8"], "- {name: VLLM_USE_RUST_FRONTEND, value: '0'}", []),
        # The count is left to the shell: the timeout may not apply, so a warning.
        (["--tensor-parallel-size=8", "--api-server-count=$(N)"], "", ["warning"]),
        (
            ["--tensor-parallel-size=8", "--api-server-count=4"],
            "- {name: VLLM_ENGINE_READY_TIMEOUT_S, value: '900'}",
            ["error"],  # set, but shorter than Pro's load
        ),
        (
            ["--tensor-parallel-size=8"],
            "- {name: VLLM_ENGINE_READY_TIMEOUT_S, value: '3600.0'}",
            ["error"],  # vLLM reads it with int(): the server does not start
        ),
        (["--data-parallel-size=8", "--headless"], "", []),
    ],
)
def test_ready_timeout_follows_the_api_server_count(
    tmp_path: Path, extra_args: list[str], env: str, expected: list[str]
) -> None:
    """DK108 fires where vLLM 0.33 applies VLLM_ENGINE_READY_TIMEOUT_S to the load: API servers
    started beside the engines (more than one, multi-port, Rust frontend), not a lone one."""
    pro = [a.replace("Flash", "Pro") for a in FLASH_ARGS] + ["--enable-expert-parallel"]
    text = deployment(pro + extra_args, env=env)
    found = [f for f in lint_text(tmp_path, "t.yaml", text) if f.rule == "DK108"]
    assert [f.severity for f in found] == expected, [f.message for f in found]


def test_image_edges(tmp_path: Path) -> None:
    args = [*FLASH_ARGS, "--data-parallel-size=8", "--enable-expert-parallel"]
    digest = "vllm/vllm-openai@sha256:" + "a" * 64
    for image, flagged in (
        (digest, False),
        ("registry.local:5000/vllm/vllm-openai", True),
        ("registry.local:5000/vllm/vllm-openai:v0.33.0", False),
        ("$(IMAGE)", False),
    ):
        findings = lint_text(tmp_path, "i.yaml", deployment(args, image=image))
        assert ("DK111" in rules_of(findings)) is flagged, image


def test_secret_edges(tmp_path: Path) -> None:
    args = [*FLASH_ARGS, "--data-parallel-size=8", "--enable-expert-parallel"]
    for env, flagged in (
        ("{name: HF_TOKEN, valueFrom: {secretKeyRef: {name: s, key: k}}}", False),
        ('{name: MAX_TOKENS, value: "4096"}', False),
        ('{name: DB_PASSWORD, value: "hunter2"}', True),
        ('{name: NOTE, value: "hf_abcdefghijklmnopqrstuvwxyz012345"}', True),
    ):
        findings = lint_text(tmp_path, "s.yaml", deployment(args, env=env))
        assert ("DK112" in rules_of(findings)) is flagged, env
        assert all("hunter2" not in f.message and "hf_abc" not in f.message for f in findings)


def test_v4_flags_only_for_v4(tmp_path: Path) -> None:
    text = deployment(["Qwen/Qwen3-0.6B"], gpus=1, shm=False)
    assert "DK113" not in rules_of(lint_text(tmp_path, "qwen.yaml", text))
    base = ["deepseek-ai/DeepSeek-V4-Flash-Base", "--kv-cache-dtype=fp8", "--block-size=256"]
    base += ["--tokenizer-mode=deepseek_v4", "--data-parallel-size=8", "--enable-expert-parallel"]
    assert "DK113" not in rules_of(lint_text(tmp_path, "base.yaml", deployment(base)))
    local = ["/models/DeepSeek-V4-Flash", "--data-parallel-size=8", "--enable-expert-parallel"]
    found = lint_text(tmp_path, "local.yaml", deployment(local))
    assert rules_of(found, "error").count("DK113") == 3  # a local copy is still V4
    auto = [*local, "--enable-auto-tool-choice"]
    found = lint_text(tmp_path, "auto.yaml", deployment(auto))
    assert any(f.rule == "DK113" and "refuses" in f.message for f in found)


def test_leader_and_worker_must_agree(tmp_path: Path) -> None:
    def role(tp: str, extra: list[str]) -> str:
        args = [*FLASH_ARGS, f"--tensor-parallel-size={tp}", "--pipeline-parallel-size=2"]
        args += ["--nnodes=2", "--master-addr=$(LWS_LEADER_ADDRESS)", *extra]
        return f"""\
      spec:
        containers:
          - name: vllm
            image: vllm/vllm-openai:v0.33.0
            args: {json.dumps(args)}
            env: [{{name: VLLM_ENGINE_READY_TIMEOUT_S, value: "3600"}}]
            resources: {{limits: {{nvidia.com/gpu: 8}}}}
            volumeMounts: [{{name: dshm, mountPath: /dev/shm}}]
        volumes: [{{name: dshm, emptyDir: {{medium: Memory}}}}]"""

    lws = "\n".join(
        [
            "apiVersion: leaderworkerset.x-k8s.io/v1",
            "kind: LeaderWorkerSet",
            "metadata: {name: x}",
            "spec:",
            "  leaderWorkerTemplate:",
            "    size: 2",
            "    leaderTemplate:",
            textwrap.indent(textwrap.dedent(role("8", ["--node-rank=0"])), "      "),
            "    workerTemplate:",
            textwrap.indent(
                textwrap.dedent(role("4", ["--node-rank=$(LWS_WORKER_INDEX)", "--headless"])),
                "      ",
            ),
        ]
    )
    findings = lint_text(tmp_path, "lws.yaml", lws + "\n")
    disagree = [f for f in findings if f.rule == "DK103"]
    assert any(vllm.F_TP in f.message and "leader's 8" in f.message for f in disagree)


def test_findings_are_sorted_and_deterministic(tmp_path: Path) -> None:
    bad = Path(__file__).parent / "fixtures" / "lint" / "bad"
    first = lint_paths([bad / "k8s", bad / "compose"], tools=False)
    second = lint_paths([bad / "compose", bad / "k8s"], tools=False)
    assert to_json(first) == to_json(second)
    keys = [(f.file, f.line or 0) for f in first.findings]
    assert keys == sorted(keys)


def test_crds_found_in_the_linted_paths_are_used(tmp_path: Path) -> None:
    crd = BUNDLED_CRD_DIR / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
    (tmp_path / "crd.yaml").write_text(crd.read_text(encoding="utf-8"), encoding="utf-8")
    bad = Path(__file__).parent / "fixtures" / "lint" / "bad" / "k8s" / "lws-crd.yaml"
    (tmp_path / "lws.yaml").write_text(bad.read_text(encoding="utf-8"), encoding="utf-8")
    findings = lint_paths([tmp_path], tools=False).findings
    assert [(f.rule, f.path) for f in findings] == [
        ("crd-schema", "spec.leaderWorkerTemplate.sizee")
    ]


# --- duplicate keys ----------------------------------------------------------------------------


def test_a_key_written_twice_is_an_error_without_the_tools(tmp_path: Path) -> None:
    """kubectl and helm refuse a mapping key written twice; PyYAML keeps the last silently, so
    lint reports it itself (yamllint does too, when it runs: one finding remains)."""
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n"
        "    model: x\n    app: y\n    model: z\ndata: {}\n"
    )
    found = [f for f in lint_text(tmp_path, "cm.yaml", text) if f.rule == "yaml/duplicate-key"]
    assert len(found) == 1 and found[0].severity == "error" and found[0].line == 8
    assert "'model' in metadata.labels" in found[0].message and "lines 6 and 8" in found[0].message


def test_merge_keys_and_placeholder_documents_are_read_right(tmp_path: Path) -> None:
    """Repeated `<<` merge keys (compose) are not duplicates; in a file whose first document
    holds a placeholder, the other documents' duplicates carry their own line numbers."""
    compose = (
        "x-a: &a {restart: always}\nx-b: &b {init: true}\n"
        "services:\n  s:\n    <<: *a\n    <<: *b\n    image: nginx:1.27\n"
    )
    assert "yaml/duplicate-key" not in rules_of(lint_text(tmp_path, "compose.yaml", compose))
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {token: {{TOKEN}}}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n"
    )
    found = [f for f in lint_text(tmp_path, "two.yaml", text) if f.rule == "yaml/duplicate-key"]
    assert [(f.line, f.document) for f in found] == [(10, 1)]


def test_yamllint_and_lint_report_a_duplicate_once() -> None:
    from deploy_kit.validate.lint import _finalize

    def at(rule: str, line: int) -> Finding:
        return Finding(
            rule=rule, severity="error", message="m", file="f", line=line, source="deploy-kit"
        )

    ours, theirs = at("yaml/duplicate-key", 8), at("yamllint/key-duplicates", 8)
    elsewhere = at("yaml/duplicate-key", 9)
    assert set(_finalize([ours, theirs, elsewhere])) == {theirs, elsewhere}
