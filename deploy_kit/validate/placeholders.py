"""Multi-document YAML that does not parse as a whole: lint the documents that do, and name the
template placeholder (`{{X}}`, `${X}`) that breaks the others."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import yaml

from deploy_kit.validate.documents import YamlDoc, parse_yaml_docs
from deploy_kit.validate.findings import Finding

# A document marker: `---` or `...` at column 0, alone or followed by white space (YAML 1.2
# section 9.1.4); block scalars are indented, so a marker line cannot be content.
_MARKER = re.compile(r"^(?:---|\.\.\.)(?:[ \t].*)?$")
_START = re.compile(r"^---(?:[ \t].*)?$")
# Shell/envsubst `${X}` (also `${X:-default}`); the default is bounded so a line of `${A:-...`
# without its brace costs linear time. `{{ X }}` (Jinja, Go templates, Mustache) is found with
# str.find, never a backtracking pattern.
_SHELL_PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-=?+][^}\n]{0,256})?\}")
# A placeholder is quoted in a finding only up to this length.
_SHOWN_CHARS = 80


@dataclass(frozen=True)
class Chunk:
    """The lines of one document: its index in the file and the 1-based line it starts on."""

    index: int
    first_line: int
    text: str


def split_documents(text: str) -> list[Chunk]:
    """The file's documents, cut at their markers, with the line each starts on."""
    chunks: list[Chunk] = []
    current: list[str] = []
    first = 1
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        bare = line.rstrip("\r\n")
        if not _MARKER.match(bare):
            current.append(line)
            continue
        # Text before the first marker is a document only if it holds more than comments; a
        # `---` right after `...` starts the next document rather than an empty one.
        if (chunks and current) or _has_content("".join(current)):
            chunks.append(Chunk(len(chunks), first, "".join(current)))
        current = [line] if _START.match(bare) else []
        first = number if current else number + 1
    if chunks or _has_content("".join(current)):
        chunks.append(Chunk(len(chunks), first, "".join(current)))
    return [c for c in chunks if _has_content(c.text)]


def parse_documents(text: str, file: str) -> tuple[list[YamlDoc], list[Finding]]:
    """Every document that parses (lines and indexes as in the whole file), and one finding per
    document that does not: naming its first placeholder and line when it has one."""
    docs: list[YamlDoc] = []
    findings: list[Finding] = []
    for chunk in split_documents(text):
        try:
            parsed = parse_yaml_docs(chunk.text, file)
        except (yaml.YAMLError, RecursionError) as exc:
            findings.append(_finding(file, chunk, exc))
            continue
        offset = chunk.first_line - 1
        for doc in parsed:
            docs.append(
                dataclasses.replace(
                    doc,
                    index=chunk.index,
                    line=doc.line + offset,
                    lines={k: v + offset for k, v in doc.lines.items()},
                    duplicate_keys=tuple(
                        dataclasses.replace(
                            d, first_line=d.first_line + offset, line=d.line + offset
                        )
                        for d in doc.duplicate_keys
                    ),
                )
            )
    return docs, findings


def first_placeholder(text: str, first_line: int = 1) -> tuple[str, int] | None:
    """The first `{{X}}` or `${X}` in the text outside comments, and its 1-based line."""
    for number, line in enumerate(text.splitlines(), start=first_line):
        if line.lstrip().startswith("#"):
            continue
        found = placeholder_in(line)
        if found is not None:
            return found, number
    return None


def placeholder_in(line: str) -> str | None:
    """The first template placeholder in one line: `{{ X }}` or `${X}` (in linear time)."""
    candidates: list[tuple[int, str]] = []
    start = line.find("{{")
    if start >= 0:
        end = line.find("}}", start + 2)
        if end >= 0:
            start = line.rfind("{{", start, end)  # the innermost opening before the close
            candidates.append((start, line[start : end + 2]))
    shell = _SHELL_PLACEHOLDER.search(line)
    if shell is not None:
        candidates.append((shell.start(), shell.group(0)))
    if not candidates:
        return None
    text = min(candidates)[1]
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _finding(file: str, chunk: Chunk, exc: yaml.YAMLError | RecursionError) -> Finding:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["nesting too deep"])[0]
    found = first_placeholder(chunk.text, chunk.first_line)
    if found is not None:
        placeholder, line = found
        return Finding(
            rule="yaml/placeholder",
            severity="error",
            message=f"document {chunk.index} does not parse: template placeholder "
            f"{placeholder} at line {line} ({problem})",
            file=file,
            line=line,
            document=chunk.index,
            hint="lint the file after its template step (envsubst, helm template, jinja), or "
            "quote the placeholder so the YAML parses",
            source="deploy-kit",
        )
    return Finding(
        rule="yaml/syntax",
        severity="error",
        message=f"document {chunk.index} does not parse: {problem}",
        file=file,
        line=mark.line + chunk.first_line if mark is not None else chunk.first_line,
        document=chunk.index,
        hint="fix the YAML syntax at this line",
        source="pyyaml",
    )


def _has_content(text: str) -> bool:
    return any(
        line.strip() and not line.lstrip().startswith("#") and not _MARKER.match(line.rstrip())
        for line in text.splitlines()
    )
