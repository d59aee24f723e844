"""YAML documents with their source lines, and the findings shared by the schema checkers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy_kit.errors import InputError
from deploy_kit.validate.findings import Finding
from deploy_kit.yamlio import MAX_DEPTH, ParseLimits, check_shape, read_bounded, scan_yaml

# A deployment manifest is kilobytes; a rendered multi-document file stays well under 1 MiB.
# 16 MiB leaves room for generated lists while refusing a pasted dump that would exhaust memory.
MAX_LINT_FILE_BYTES = 16 * 1024 * 1024
LINT_SIZE_HINT = (
    "split it into files under 16 MiB (a multi-document file splits at its `---` lines) and "
    "lint those, or leave it out of the lint paths"
)
# The parse work one linted file may cost. Values: real CRDs measure ~27 bytes per value (the
# 2.2 MB KServe CRD in validate/crds holds 83,440), so 500,000 is ~13 MiB of such YAML, in line
# with the size bound; scanning that many parser events takes ~0.4 s (bench/run.py, hostile).
# Aliases: compose files anchor shared blocks (`<<: *defaults`) tens of times (estimate);
# 1,000 leaves room while the expansion itself stays bounded by `values`.
LINT_LIMITS = ParseLimits(values=500_000, depth=MAX_DEPTH, aliases=1_000)

SCHEMA_HINTS = {
    "unknown-field": "remove the field or fix its spelling (the API server drops or rejects it)",
    "type": "use a value of the type the schema wants",
    "required": "add the required field",
    "enum": "use one of the allowed values",
}


@dataclass(frozen=True)
class DuplicateKey:
    """A mapping key written twice: YAML loaders keep the last value silently, while kubectl,
    helm and compose refuse the file ("mapping key ... already defined at line N")."""

    path: tuple[str | int, ...]
    key: str
    first_line: int
    line: int


@dataclass(frozen=True)
class YamlDoc:
    """One document of a (multi-document) YAML file with the lines its nodes start on."""

    file: str
    index: int
    line: int
    data: Any
    lines: Mapping[tuple[str | int, ...], int] = field(default_factory=dict, compare=False)
    duplicate_keys: tuple[DuplicateKey, ...] = field(default=(), compare=False)

    @property
    def kind(self) -> str:
        """`kind` of a Kubernetes object, or "" when absent."""
        return str(self.data.get("kind", "")) if isinstance(self.data, dict) else ""

    @property
    def api_version(self) -> str:
        """`apiVersion` of a Kubernetes object, or "" when absent."""
        return str(self.data.get("apiVersion", "")) if isinstance(self.data, dict) else ""

    @property
    def name(self) -> str:
        """metadata.name, or "" when absent."""
        meta = self.data.get("metadata") if isinstance(self.data, dict) else None
        return str(meta.get("name", "")) if isinstance(meta, dict) else ""

    def line_of(self, path: Sequence[str | int]) -> int:
        """The line of the deepest node on `path` that exists (the document start otherwise)."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return self.line


def load_yaml_docs(paths: Iterable[Path]) -> tuple[list[YamlDoc], list[Finding]]:
    """Parse every document of every file; a file that does not parse becomes a finding."""
    docs: list[YamlDoc] = []
    findings: list[Finding] = []
    for path in paths:
        try:
            raw = read_bounded(path, what="file", limit=MAX_LINT_FILE_BYTES, hint=LINT_SIZE_HINT)
            docs.extend(parse_yaml_docs(raw.decode("utf-8"), str(path)))
        except InputError as exc:
            # Too large, not a regular file, or aliases expanding past the bound: one finding.
            findings.append(
                Finding(
                    rule="yaml/unreadable",
                    severity="error",
                    message=str(exc),
                    file=str(path),
                    source="deploy-kit",
                )
            )
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            findings.append(
                Finding(
                    rule="yaml/syntax",
                    severity="error",
                    message=f"YAML does not parse: {getattr(exc, 'problem', None) or exc}",
                    file=str(path),
                    line=mark.line + 1 if mark is not None else None,
                    source="pyyaml",
                )
            )
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {path}: {exc}") from exc
    return docs, findings


def parse_yaml_docs(text: str, file: str, *, limits: ParseLimits = LINT_LIMITS) -> list[YamlDoc]:
    """The documents of one YAML text (empty documents skipped, indexes kept).

    The text is scanned against `limits` first (InputError naming the limit crossed), so an
    oversized or too deeply nested text costs no node building; syntax errors are yaml.YAMLError.
    """
    aliases = scan_yaml(text, origin=file, limits=limits).aliases
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: list[YamlDoc] = []
    for index, node in enumerate(yaml.compose_all(text, Loader=loader_cls)):
        if node is None:
            continue
        data = loader_cls("").construct_document(node)
        if data is None:
            continue
        # Aliases expand when walked: the walk is bounded by the same limits.
        check_shape(data, f"{file} document {index}", limits=limits, aliases=aliases)
        lines: dict[tuple[str | int, ...], int] = {}
        duplicates: list[DuplicateKey] = []
        _index_lines(node, (), lines, 0, duplicates)
        out.append(YamlDoc(file, index, node.start_mark.line + 1, data, lines, tuple(duplicates)))
    return out


def json_path(path: Sequence[str | int]) -> str:
    """["spec", "containers", 0, "image"] -> "spec.containers[0].image"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def no_kind_finding(doc: YamlDoc, source: str) -> Finding:
    return Finding(
        rule="k8s-schema/no-kind",
        severity="error",
        message="document has no apiVersion and kind, so it is not a Kubernetes object",
        file=doc.file,
        line=doc.line,
        document=doc.index,
        source=source,
    )


def no_schema_finding(doc: YamlDoc, what: str, source: str) -> Finding:
    return Finding(
        rule="k8s-schema/no-schema",
        severity="warning",
        message=f"{what} kind {doc.kind} ({doc.api_version}): not validated",
        file=doc.file,
        line=doc.line_of(["kind"]),
        document=doc.index,
        path="kind",
        hint="pass its CRD with --crd FILE (kubectl get crd NAME -o yaml > FILE)",
        source=source,
    )


def _index_lines(
    node: yaml.Node,
    path: tuple[str | int, ...],
    out: dict[tuple[str | int, ...], int],
    depth: int,
    duplicates: list[DuplicateKey],
) -> None:
    if depth > 100:  # aliases can make deep graphs; lines that deep are not worth it
        return
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            # `<<` merge keys are the loader's, not the document's (compose repeats them).
            if isinstance(key_node, yaml.ScalarNode) and key != "<<":
                if key in seen:
                    duplicates.append(DuplicateKey(path, key, seen[key], line))
                seen.setdefault(key, line)
            child = (*path, key)
            out.setdefault(child, line)
            _index_lines(value_node, child, out, depth + 1, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = (*path, i)
            out.setdefault(child, item.start_mark.line + 1)
            _index_lines(item, child, out, depth + 1, duplicates)


def duplicate_key_findings(docs: Iterable[YamlDoc]) -> list[Finding]:
    """One error per mapping key written twice in a document."""
    return [
        Finding(
            rule="yaml/duplicate-key",
            severity="error",
            message=(
                f"key {dup.key!r}{' in ' + json_path(dup.path) if dup.path else ''} is written "
                f"twice (lines {dup.first_line} and {dup.line}); YAML loaders keep the last "
                "value, and kubectl, helm and docker compose refuse the file"
            ),
            file=doc.file,
            line=dup.line,
            document=doc.index,
            hint="remove one of the two keys",
            source="deploy-kit",
        )
        for doc in docs
        for dup in doc.duplicate_keys
    ]
