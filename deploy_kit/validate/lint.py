"""`deploy-kit lint`: discovery, one batch per external tool, domain rules, a sorted report."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from deploy_kit.catalog import load_catalog
from deploy_kit.errors import InputError
from deploy_kit.spec import HardwareProfile
from deploy_kit.validate.discover import Discovery, LintFile, discover, packaged_chart
from deploy_kit.validate.documents import MAX_LINT_FILE_BYTES, YamlDoc
from deploy_kit.validate.findings import Finding
from deploy_kit.validate.invocations.base import Container
from deploy_kit.validate.invocations.compose import compose_containers
from deploy_kit.validate.invocations.docker import dockerfile_containers
from deploy_kit.validate.invocations.k8s import k8s_containers
from deploy_kit.validate.report import (
    LintedFile,
    LintReport,
    SkippedFile,
    ToolRun,
    make_report,
    sort_key,
)
from deploy_kit.validate.rules.facts import LintContext
from deploy_kit.validate.rules.run import check
from deploy_kit.validate.structural import validators as structural
from deploy_kit.validate.structural.crd import (
    bundled_crds_for,
    crd_key,
    crd_validate_docs,
    load_crds,
)
from deploy_kit.validate.structural.kustomize import (
    HELM_API_VERSIONS,
    helm_docs,
    kustomization_bases,
    kustomize_docs,
)
from deploy_kit.vllm.flags import DEFAULT_VLLM_VERSION, load_flags, table_version
from deploy_kit.yamlio import OpenFailed, read_bounded

DEFAULT_K8S_VERSION = structural.DEFAULT_K8S_VERSION
_MAX_WORKERS = structural.MAX_WORKERS
_T = TypeVar("_T")
_R = TypeVar("_R")


def lint_paths(
    paths: Sequence[str | Path],
    crds: Sequence[str | Path] = (),
    hardware: str | HardwareProfile | None = None,
    k8s_version: str = DEFAULT_K8S_VERSION,
    strict: bool = False,
    *,
    tools: bool = True,
    vllm_version: str = DEFAULT_VLLM_VERSION,
) -> LintReport:
    """Lint files and directories: structural checks (each tool once per batch where the tool
    allows it) and the DK domain rules. Raises InputError (exit 2) on bad usage and ToolMissing
    (exit 4) when a needed tool is not installed."""
    catalog = load_catalog()
    # Bad usage before any work: a malformed version. A release without its own table is
    # read with the pinned table; what it still accepts that the table's release removed
    # becomes a warning (domain_argv).
    load_flags(table_version(vllm_version))
    hw = catalog.hardware(hardware) if isinstance(hardware, str) else hardware
    crd_paths = [Path(p) for p in crds]
    try:
        load_crds(crd_paths)  # a bad --crd file is bad usage (exit 2), said in one line
    except InputError as exc:
        first = exc.message.splitlines()[0] if exc.message else "bad CRD file"
        raise InputError(
            f"--crd: {first}", hint="pass a CRD: kubectl get crd NAME -o yaml > FILE"
        ) from None
    found = discover([Path(p) for p in paths])
    batch = _Batch(found, tools, k8s_version)
    batch.run(crd_paths)
    containers = batch.containers(vllm_version)
    ctx = LintContext(catalog=catalog, hardware=hw, version=vllm_version)
    findings = batch.findings + check(containers, ctx)
    if not found.files:
        batch.notes.append("no Kubernetes manifest, compose file, Dockerfile or Helm values found")
    return make_report(
        vllm_version=vllm_version,
        k8s_version=k8s_version,
        hardware=hw.name if hw else None,
        strict=strict,
        external_tools=tools,
        findings=_finalize(findings),
        files=sorted(
            (LintedFile(path=str(f.path), kind=f.kind) for f in found.files),
            key=lambda f: f.path,
        ),
        skipped=sorted(
            (SkippedFile(path=str(s.path), reason=s.reason) for s in found.skipped),
            key=lambda s: s.path,
        ),
        tool_runs=[ToolRun(tool=t, runs=r, files=n) for t, (r, n) in sorted(batch.runs.items())],
        notes=batch.notes,
    )


class _Batch:
    """The state of one lint run: documents per source, findings, notes and tool counts."""

    def __init__(self, found: Discovery, tools: bool, k8s_version: str) -> None:
        self.found = found
        self.tools = tools
        self.k8s_version = k8s_version
        self.findings: list[Finding] = list(found.findings)
        self.notes: list[str] = []
        self.runs: dict[str, tuple[int, int]] = {}
        self.manifests: list[YamlDoc] = []
        self._lock = threading.Lock()  # file tools and manifest builds count from two threads

    def count(self, tool: str, runs: int, files: int) -> None:
        with self._lock:
            old = self.runs.get(tool, (0, 0))
            self.runs[tool] = (old[0] + runs, old[1] + files)

    def run(self, crd_paths: list[Path]) -> None:
        """Every structural check: the file-level tools run while manifests are being built
        (kustomize, helm template); kubernetes-validate then takes all manifests in one batch,
        while the file tools may still be running."""
        crd_paths = crd_paths + self._found_crds()
        if not self.tools:
            self.collect_manifests()
            crd_paths = [*bundled_crds_for(self.manifests), *crd_paths]
            self.notes.append(
                "external tools skipped (--no-tools): yamllint, kubernetes-validate, docker "
                "compose, hadolint and helm did not run; only CRD schemas and domain rules "
                "were checked"
            )
            registry = load_crds(crd_paths)
            custom = [d for d in self.manifests if crd_key(d) in registry]
            self.findings += crd_validate_docs(custom, crd_paths)
            return
        with ThreadPoolExecutor(max_workers=2) as pool:
            file_checks = pool.submit(self._file_tools)
            self.collect_manifests()
            # kubernetes-validate needs every manifest, not the file tools: it overlaps with
            # whatever they still run (yamllint over every file is usually the longest).
            try:
                self._validate_manifests(crd_paths)
            except Exception:
                file_checks.result()  # a file tool's failure is reported first, as before
                raise
            self.findings += file_checks.result()

    def _validate_manifests(self, crd_paths: list[Path]) -> None:
        if not self.manifests:
            return
        # The bundled CRDs first: a --crd or a CRD found in the tree overrides their versions.
        crd_paths = [*bundled_crds_for(self.manifests), *crd_paths]
        registry = load_crds(crd_paths)
        builtin = [d for d in self.manifests if crd_key(d) not in registry]
        self.findings += structural.validate_manifests(self.manifests, crd_paths, self.k8s_version)
        if builtin:
            self.count("kubernetes-validate", 1, len(builtin))

    def _file_tools(self) -> list[Finding]:
        """yamllint (one run), docker compose config (one per file), hadolint (one run)."""
        out: list[Finding] = []
        yaml_files = [
            f.path
            for f in self.found.files
            if f.kind in ("kubernetes", "compose", "kustomization", "helm-values", "yaml")
        ]
        compose = [f.path for f in self.found.of_kind("compose") if f.parsed]
        dockerfiles = [f.path for f in self.found.of_kind("dockerfile")]
        jobs = []
        with ThreadPoolExecutor(max_workers=3) as pool:
            if yaml_files:
                jobs.append(pool.submit(structural.yamllint_files, yaml_files))
                self.count("yamllint", 1, len(yaml_files))
            if compose:
                # One process per file: compose merges several -f files into one project.
                jobs.append(pool.submit(structural.compose_config_files, compose))
                self.count("docker compose config", len(compose), len(compose))
            if dockerfiles:
                jobs.append(pool.submit(structural.hadolint_files, dockerfiles))
                self.count("hadolint", 1, len(dockerfiles))
            for job in jobs:
                out += job.result()
        return out

    def collect_manifests(self) -> None:
        """Kubernetes documents: plain files, kustomize builds, helm template of values files."""
        kdirs = set(self.found.kustomizations)
        kdirs |= {f.path.parent for f in self.found.of_kind("kustomization")}
        consumed: set[Path] = set()
        by_path = {f.path.resolve(): f for f in self.found.files}
        # A base of another kustomization in the batch is built with kubectl like its overlay.
        bases = kustomization_bases(kdirs, by_path)
        built = _parallel(
            lambda d: kustomize_docs(
                d, by_path, use_kubectl=self.tools, direct=d.resolve() not in bases
            ),
            sorted(kdirs),
        )
        kubectl_runs = 0
        for result in built:
            self.manifests += result.docs
            consumed |= result.consumed
            self.findings += result.findings
            kubectl_runs += result.kubectl_runs
            self.notes += result.notes
        if kubectl_runs:
            self.count("kubectl kustomize", kubectl_runs, kubectl_runs)
        for f in self.found.of_kind("kubernetes"):
            if f.path.resolve() not in consumed:
                self.manifests += [d for d in f.docs if d.kind not in ("Kustomization",)]
        self._helm_values()

    def _helm_values(self) -> None:
        values = self.found.of_kind("helm-values")
        if not values:
            return
        if not self.tools:
            self.notes.append(
                f"{len(values)} Helm values file(s) not checked: they need `helm template` "
                "(--no-tools)"
            )
            return
        chart = packaged_chart()
        results = _parallel(lambda f: helm_docs(f, f.chart or chart, self.k8s_version), values)
        for docs, findings in results:
            self.manifests += docs
            self.findings += findings
        self.count("helm template", len(values), len(values))

    def _found_crds(self) -> list[Path]:
        usable = []
        for path in self.found.crd_files:
            try:
                load_crds([path])
            except Exception as exc:  # a broken CRD in the tree is a finding, not a crash
                self.findings.append(
                    Finding(
                        rule="crd-schema/bad-crd",
                        severity="error",
                        message=f"CRD cannot be used for validation: {exc}",
                        file=str(path),
                        source="crd",
                    )
                )
                continue
            usable.append(path)
        return usable

    def containers(self, version: str) -> list[Container]:
        out = k8s_containers(self.manifests, version)
        for f in self.found.of_kind("compose"):
            for doc in f.docs:
                out += compose_containers(doc, version)
        for f in self.found.of_kind("dockerfile"):
            out += _dockerfile(f, version)
        return out


def _dockerfile(f: LintFile, version: str) -> list[Container]:
    try:
        raw = read_bounded(f.path, what="Dockerfile", limit=MAX_LINT_FILE_BYTES)
        text = raw.decode("utf-8")
    except (OpenFailed, UnicodeDecodeError):
        return []
    return dockerfile_containers(str(f.path), text, version)


def _parallel(fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    items = list(items)
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


def _finalize(findings: list[Finding]) -> list[Finding]:
    """Dedupe, drop PyYAML's syntax error and our duplicate-key error where yamllint reported
    the same, sort. In a file with a placeholder the per-document findings are kept instead:
    yamllint stops at the first."""
    per_document = {f.file for f in findings if f.rule == "yaml/placeholder"}
    yamllint_syntax = {f.file for f in findings if f.rule == "yamllint/syntax"} - per_document
    yamllint_duplicates = {
        (f.file, f.line) for f in findings if f.rule == "yamllint/key-duplicates"
    }
    kept = {
        f
        for f in findings
        if not (f.rule == "yaml/syntax" and f.file in yamllint_syntax)
        and not (f.rule == "yamllint/syntax" and f.file in per_document)
        and not (f.rule == "yaml/duplicate-key" and (f.file, f.line) in yamllint_duplicates)
    }
    return sorted(kept, key=sort_key)


__all__ = ["DEFAULT_K8S_VERSION", "HELM_API_VERSIONS", "lint_paths"]
