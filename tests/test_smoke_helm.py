"""The chart's `helm test` hook (deploy-kit smoke) and the kustomize bundle's optional smoke Job."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_kit.validate.documents import YamlDoc
from deploy_kit.validate.structural.validators import k8s_validate_docs
from deploy_kit.version import __version__
from tests.helpers import python_block
from tests.test_helm_chart import MULTI_NODE, Doc, helm_binary, template

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def helm() -> Path:
    path = helm_binary()
    if path is None:
        pytest.skip("helm is not installed: run `make tools`")
    return path


def _hook(docs: list[Doc]) -> Doc:
    hooks = [d for d in docs if d.get("metadata", {}).get("annotations", {}).get("helm.sh/hook")]
    assert len(hooks) == 1, [d["kind"] for d in hooks]
    return hooks[0]


def _strict_errors(doc: Doc) -> list[str]:
    findings = k8s_validate_docs([YamlDoc("smoke.yaml", 0, 1, doc)], strict=True)
    return [f.message for f in findings]


def test_helm_template_shows_the_smoke_test_hook(helm: Path) -> None:
    pod = _hook(template(helm))
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = pod["spec"]["containers"][0]
    # tag empty: the chart version, i.e. the deploy-kit release (not vLLM's appVersion)
    assert container["image"] == f"deploy-kit:{__version__}"
    assert container["command"] == ["deploy-kit"]
    assert container["args"] == [
        "smoke", "http://rel-deepseek-v4:8000", "--model", "deepseek-v4-flash", "--timeout", "120",
    ]  # fmt: skip
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert env["VLLM_API_KEY"] == {"name": "vllm-api-key", "key": "key", "optional": False}
    assert pod["spec"]["restartPolicy"] == "Never"


def test_the_hook_manifest_validates_strictly(helm: Path) -> None:
    assert _strict_errors(_hook(template(helm))) == []


def test_strict_validation_catches_a_broken_hook(helm: Path) -> None:
    """The validator is strict enough to matter: an unknown field is an error."""
    pod = _hook(template(helm))
    pod["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert _strict_errors(pod)


def test_the_service_never_selects_the_test_pod(helm: Path) -> None:
    docs = template(helm)
    pod = _hook(docs)
    service = next(d for d in docs if d["kind"] == "Service")
    selector = service["spec"]["selector"]
    pod_labels = pod["metadata"]["labels"]
    assert not all(pod_labels.get(k) == v for k, v in selector.items())


def _admitted(policy: Doc, labels: dict[str, str]) -> bool:
    """Whether a pod in the release's namespace with `labels` may reach the API port."""
    for rule in policy["spec"]["ingress"]:
        if "from" not in rule:
            return True  # no peers listed: from anywhere
        for peer in rule["from"]:
            if set(peer) != {"podSelector"}:
                continue  # namespace or IP peers say nothing about this pod
            wanted = peer["podSelector"].get("matchLabels", {})
            if all(labels.get(k) == v for k, v in wanted.items()):
                return True
    return False


def test_the_network_policy_admits_the_test_pod(helm: Path) -> None:
    """With networkPolicy.allowFrom set, `helm test` still reaches the API (the policy admits
    the hook Pod by its own labels), and nothing else is admitted by that rule."""
    allow = ("--set", "networkPolicy.allowFrom[0].namespaceSelector.matchLabels.team=ml")
    docs = template(helm, *allow)
    policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
    pod = _hook(docs)
    assert _admitted(policy, pod["metadata"]["labels"])
    assert not _admitted(policy, {"app.kubernetes.io/name": "other"})
    assert _strict_errors(policy) == []
    off = template(helm, *allow, "--set", "smoke.enabled=false")
    policy_off = next(d for d in off if d["kind"] == "NetworkPolicy")
    assert not _admitted(policy_off, pod["metadata"]["labels"])


def test_hook_values_place_image_timeout_and_embeddings(helm: Path) -> None:
    pod = _hook(
        template(
            helm,
            "--set", "smoke.image.tag=0.1.0",
            "--set", "smoke.timeoutSeconds=30",
            "--set", "smoke.requireEmbeddings=true",
            "--set", "secrets.apiKey.enabled=false",
        )
    )  # fmt: skip
    container = pod["spec"]["containers"][0]
    assert container["image"] == "deploy-kit:0.1.0"
    assert container["args"][-4:] == ["--timeout", "30", "--require", "embeddings"]
    assert "env" not in container


def test_the_hook_can_be_turned_off(helm: Path) -> None:
    docs = template(helm, "--set", "smoke.enabled=false")
    assert not [d for d in docs if "helm.sh/hook" in d.get("metadata", {}).get("annotations", {})]


def test_multi_node_release_gets_the_hook_too(helm: Path) -> None:
    pod = _hook(template(helm, "-f", str(MULTI_NODE), "--set", "lws.skipApiCheck=true"))
    assert _strict_errors(pod) == []


# --- the kustomize bundle's smoke Job and the READMEs' client snippets ---------------------------


def _render(capsys: pytest.CaptureFixture[str], out: Path, *args: str) -> None:
    from tests.helpers import run_cli

    code, _, err = run_cli(
        capsys, "render", "-m", "deepseek-v4-flash", "--out", str(out), "-q", *args
    )
    assert code == 0, err


def test_the_smoke_job_is_off_by_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _render(capsys, tmp_path, "-H", "8xH200", "--target", "kubernetes")
    assert not (tmp_path / "kubernetes" / "smoke-job.yaml").exists()
    assert "smoke-job" not in (tmp_path / "kubernetes" / "kustomization.yaml").read_text()


def test_the_smoke_job_targets_the_service_and_validates_strictly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import yaml

    _render(
        capsys,
        tmp_path,
        "-H",
        "8xH200",
        "--target",
        "kubernetes",
        "--smoke-job",
        "--namespace",
        "llm",
    )
    folder = tmp_path / "kubernetes"
    assert "  - smoke-job.yaml" in (folder / "kustomization.yaml").read_text()
    job = yaml.safe_load((folder / "smoke-job.yaml").read_text())
    service = yaml.safe_load((folder / "service.yaml").read_text())
    pod = job["spec"]["template"]
    container = pod["spec"]["containers"][0]
    port = service["spec"]["ports"][0]["port"]
    url = f"http://{service['metadata']['name']}.llm.svc:{port}"
    assert container["args"][:4] == ["smoke", url, "--model", "deepseek-v4-flash"]
    assert container["image"].startswith("deploy-kit:") and not container["image"].endswith(
        "latest"
    )
    selector = service["spec"]["selector"]
    assert not all(pod["metadata"]["labels"].get(k) == v for k, v in selector.items())
    assert _strict_errors(job) == []


def test_the_job_retries_for_as_long_as_the_startup_probe_waits() -> None:
    from deploy_kit.renderer.kubernetes import smoke_backoff_limit

    assert smoke_backoff_limit(5) == 2  # one retry after 10 s, then one more run
    assert smoke_backoff_limit(70) == 4  # 10 + 20 + 40 >= 70
    assert smoke_backoff_limit(3600) == 16  # 10..320, then 6-min steps up to an hour


@pytest.mark.parametrize("readme", ["README.md", "compose/README.md", "helm/README.md"])
def test_readmes_show_client_snippets_for_this_deployment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, readme: str
) -> None:
    _render(capsys, tmp_path, "-H", "8xH200", "--target", "all")
    text = (tmp_path / readme).read_text()
    code = python_block(text)
    compile(code, readme, "exec")  # the snippet is valid Python
    assert 'base_url="http://127.0.0.1:8000/v1"' in code and 'MODEL = "deepseek-v4-flash"' in code
    assert 'os.environ["VLLM_API_KEY"]' in code
    for piece in ("stream=True", 'tool_choice="auto"', '"json_schema"', '"thinking": True'):
        assert piece in code, piece
    assert 'Think Max (`"reasoning_effort": "max"`) fits' in text
    assert "deploy-kit smoke http://127.0.0.1:8000 --api-key-env VLLM_API_KEY" in text


def test_readme_says_when_think_max_does_not_fit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["-H", "8xH200", "--target", "compose", "--context", "128k", "--no-api-key"]
    _render(capsys, tmp_path, *args)
    text = (tmp_path / "compose" / "README.md").read_text()
    assert "needs max_model_len >= 393216; this deployment serves 128000" in text
    assert 'api_key="none"' in python_block(text)
