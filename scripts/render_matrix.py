"""Render the security matrix: every model x every preset that plans, plus option variants.

usage: python scripts/render_matrix.py OUT_DIR [--model M]... [--no-variants] [--helm-template]

Writes one bundle per case under OUT_DIR/<case>/ (the files `render --target all` writes) and,
for scanners, OUT_DIR/<case>/scan/: with --helm-template, `helm-template.yaml` (the chart
rendered with the bundle's values.yaml by the helm that `make tools` installs); for multi-node
cases, `lws-pods.yaml` and `helm-lws-pods.yaml`: the LeaderWorkerSets' leader and worker pod
templates as plain Pods, because scanners that know only built-in kinds would otherwise never
look at the pods that get IPC_LOCK. Prints one summary line on stdout:
`rendered N bundles (M single-node, K multi-node); skipped S presets that do not plan`, and
writes OUT_DIR/matrix.json listing the cases. Exit 0, or 1 when a case that planned fails to
render (a renderer bug the security run must not hide).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy_kit.catalog import Catalog, load_catalog
from deploy_kit.errors import DeployKitError, InputError, PlanError
from deploy_kit.planner import search as planner
from deploy_kit.renderer import RenderOptions, render_files
from deploy_kit.spec import Knobs, Plan

MODELS = ("deepseek-v4-flash", "deepseek-v4-pro")
# Option variants that switch on templates the defaults leave out (autoscalers, monitors,
# the weight-baking Dockerfile stage, the non-PVC caches). Each runs on one single-node and
# one multi-node preset; the defaults run on every preset.
VARIANTS: dict[str, dict[str, Any]] = {
    "hpa-servicemonitor": {"autoscaling": "hpa", "monitoring": "servicemonitor"},
    "keda-podmonitor": {"autoscaling": "keda", "monitoring": "podmonitor"},
    "bake-weights": {"bake_weights": True},
    "emptydir-cache": {"model_cache": "emptyDir"},
    "namespaced": {"namespace": "inference", "storage_class": "fast-ssd"},
    "smoke-job": {"smoke_job": True},
}
VARIANT_PRESETS = ("8xH200", "2x8xH100")
LWS_KIND = "LeaderWorkerSet"
CHART = "deepseek-v4"


@dataclass
class Matrix:
    """What one run rendered, skipped and failed."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="Directory for the bundles (emptied first).")
    parser.add_argument("--model", action="append", dest="models", help="Limit to these models.")
    parser.add_argument("--no-variants", action="store_true", help="Default options only.")
    parser.add_argument(
        "--helm-template",
        action="store_true",
        help="Also render the chart with each values.yaml (needs helm: make tools).",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    matrix = render_matrix(
        out,
        tuple(args.models or MODELS),
        variants=not args.no_variants,
        helm_template=args.helm_template,
    )
    (out / "matrix.json").write_text(
        json.dumps(
            {"cases": matrix.cases, "skipped": matrix.skipped, "failed": matrix.failed}, indent=2
        )
        + "\n",
        encoding="utf-8",
    )
    multi = sum(1 for c in matrix.cases if c["nodes"] > 1)
    print(
        f"rendered {len(matrix.cases)} bundles ({len(matrix.cases) - multi} single-node, "
        f"{multi} multi-node); skipped {len(matrix.skipped)} presets that do not plan"
    )
    for fail in matrix.failed:
        print(f"render failed: {fail['case']}: {fail['error']}", file=sys.stderr)
    return 1 if matrix.failed else 0


def render_matrix(
    out: Path, models: Sequence[str], *, variants: bool = True, helm_template: bool = False
) -> Matrix:
    catalog = load_catalog()
    matrix = Matrix()
    for case, model, preset, options in _cases(catalog, models, variants):
        try:
            plan = planner.plan(catalog, model, catalog.hardware(preset), Knobs(), suggest=False)
        except (PlanError, InputError) as exc:
            if options:
                continue  # the variant's preset does not plan for this model: nothing to add
            matrix.skipped.append({"case": case, "reason": exc.message})
            continue
        try:
            files = render_files(plan, "all", RenderOptions.model_validate(options))
        except DeployKitError as exc:
            matrix.failed.append({"case": case, "error": exc.message})
            continue
        bundle = out / case
        write_files(bundle, files)
        scan = {"scan/lws-pods.yaml": lws_pods(_k8s_texts(files))}
        if helm_template:
            try:
                chart = template_chart(bundle / "helm" / "values.yaml", options.get("namespace"))
            except DeployKitError as exc:
                matrix.failed.append({"case": case, "error": exc.message})
                continue
            scan["scan/helm-template.yaml"] = chart
            scan["scan/helm-lws-pods.yaml"] = lws_pods([chart])
        write_files(bundle, {rel: text for rel, text in scan.items() if text})
        matrix.cases.append(_describe(case, model, preset, options, plan))
    return matrix


def _cases(
    catalog: Catalog, models: Sequence[str], variants: bool
) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for model in models:
        for preset in catalog.presets:
            yield f"{model}/{preset}", model, preset, {}
        if not variants:
            continue
        for preset in VARIANT_PRESETS:
            for name, options in VARIANTS.items():
                yield f"{model}/{preset}+{name}", model, preset, options


def _describe(
    case: str, model: str, preset: str, options: dict[str, Any], plan: Plan
) -> dict[str, Any]:
    return {
        "case": case,
        "model": model,
        "preset": preset,
        "options": options,
        "nodes": plan.nodes,
        "gpu_vendor": plan.hardware.gpu.vendor,
        "plan": plan.one_line(),
    }


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def template_chart(values: Path, namespace: str | None) -> str:
    """`helm template` of the packaged chart with one values file (LWS API declared served)."""
    from deploy_kit.resources import LWS_API, resource_dir
    from deploy_kit.validate.structural.validators import helm_template

    chart = resource_dir("charts") / CHART
    release = yaml.safe_load(values.read_text(encoding="utf-8"))["model"]["servedModelName"]
    return helm_template(
        chart, values, api_versions=[LWS_API], release=str(release), namespace=namespace
    )


def _k8s_texts(files: dict[str, str]) -> list[str]:
    return [
        files[rel]
        for rel in sorted(files)
        if rel.startswith("kubernetes/") and rel.endswith(".yaml")
    ]


def lws_pods(texts: Sequence[str]) -> str:
    """The pod templates of every LeaderWorkerSet in these YAML streams, as plain Pods."""
    pods: list[dict[str, Any]] = []
    for text in texts:
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc.get("kind") == LWS_KIND:
                pods += _pods_of(doc)
    if not pods:
        return ""
    head = "# Derived for scanners only (not applied): the LeaderWorkerSet's pod templates.\n"
    return head + yaml.safe_dump_all(pods, sort_keys=False)


def _pods_of(lws: dict[str, Any]) -> list[dict[str, Any]]:
    name = lws["metadata"]["name"]
    namespace = lws["metadata"].get("namespace")
    group = lws["spec"]["leaderWorkerTemplate"]
    pods = []
    for role, key in (("leader", "leaderTemplate"), ("worker", "workerTemplate")):
        template = group.get(key)
        if not template:
            continue
        meta: dict[str, Any] = {"name": f"{name}-{role}", **template.get("metadata", {})}
        if namespace:
            meta["namespace"] = namespace
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]})
    return pods


if __name__ == "__main__":
    sys.exit(main())
