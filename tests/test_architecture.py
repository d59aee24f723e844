"""The import graph of deploy_kit against architecture.toml: no circles, no forbidden edge."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "deploy_kit"
RULES = tomllib.loads((REPO / "architecture.toml").read_text())


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every deploy_kit module this file imports, at any depth (lazy and TYPE_CHECKING too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Constant) and node.value in MODULES:
            # import_module("deploy_kit.x") and the lazy command table name modules in strings
            found.add(node.value)
    return {m for m in found if m == "deploy_kit" or m.startswith("deploy_kit.")}


GRAPH = {m: _imports(p) - {m} for m, p in MODULES.items()}


def unit(module: str) -> str:
    parts = module.split(".")
    return "api" if len(parts) == 1 else parts[1]


def _expand(names: str | list[str]) -> set[str]:
    items = [names] if isinstance(names, str) else names
    out: set[str] = set()
    for n in items:
        out |= set(RULES["base"]) if n == "base" else {n}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_unit_is_described() -> None:
    units = {unit(m) for m in MODULES}
    assert units == set(RULES["may_import"]), "architecture.toml must list exactly the packages"


def test_no_import_circles() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_only_what_the_architecture_allows() -> None:
    bad = []
    for mod, targets in GRAPH.items():
        u = unit(mod)
        allowed = _expand(RULES["may_import"][u]) | {u}
        bad += [f"{mod} -> {t}" for t in sorted(targets) if unit(t) not in allowed]
    assert bad == []


@pytest.mark.parametrize("rule", RULES["never"], ids=lambda r: str(r["from"]))
def test_forbidden_edges_are_absent_and_not_allowed(rule: dict[str, object]) -> None:
    sources = _expand(rule["from"])  # type: ignore[arg-type]
    sinks = _expand(rule["to"])  # type: ignore[arg-type]
    for s in sources:
        assert not sinks & _expand(RULES["may_import"][s]), f"{s} may import {sinks}: {rule['why']}"
    edges = [
        f"{m} -> {t}"
        for m, ts in GRAPH.items()
        for t in ts
        if unit(m) in sources and unit(t) in sinks
    ]
    assert edges == [], rule["why"]


def test_at_most_eight_modules_directly_in_the_package() -> None:
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 8, top


def test_public_api_survives_importing_every_subpackage() -> None:
    """`deploy_kit.plan` / `render` stay functions: no subpackage shares an API name."""
    import importlib

    import deploy_kit

    for mod in MODULES:
        if mod.endswith("__main__"):
            continue
        importlib.import_module(mod)
    for name in deploy_kit.__all__:
        if name != "__version__":
            assert callable(getattr(deploy_kit, name)), name


def test_version_matches_pyproject() -> None:
    from deploy_kit.version import __version__

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__


def test_chart_version_is_the_release() -> None:
    """The helm test hook runs deploy-kit:<chart version>: the chart ships with each release."""
    import yaml

    from deploy_kit.version import __version__

    chart = yaml.safe_load((REPO / "charts" / "deepseek-v4" / "Chart.yaml").read_text())
    assert chart["version"] == __version__
    hook = (REPO / "charts" / "deepseek-v4" / "templates" / "tests" / "smoke.yaml").read_text()
    assert "default .Chart.Version" in hook
