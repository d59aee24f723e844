"""Rendering: one plan into Dockerfile, compose, Kubernetes and Helm bundles."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Protocol

from deploy_kit.errors import InputError
from deploy_kit.renderer.bundle import WriteReport, write_bundle
from deploy_kit.renderer.context import RenderContext, RenderOptions, build_context, header_lines
from deploy_kit.renderer.templating import render_template
from deploy_kit.spec import Plan

TARGETS = ("docker", "compose", "kubernetes", "helm")
TARGET_CHOICES = (*TARGETS, "all")


class _Target(Protocol):
    def render(self, ctx: RenderContext) -> dict[str, str]: ...


def _module(target: str) -> _Target:
    module: _Target = importlib.import_module(f"deploy_kit.renderer.{target}")
    return module


def render_files(plan: Plan, target: str, options: RenderOptions | None = None) -> dict[str, str]:
    """The bundle as {relative path: text}: pure and deterministic (same plan, same bytes)."""
    if target not in TARGET_CHOICES:
        raise InputError(f"unknown target {target!r}; choose one of {', '.join(TARGET_CHOICES)}")
    if plan.what_if:
        raise InputError(
            "cannot render a what-if plan: no checkpoint with these weights exists",
            hint="plan it for comparison only, or use --weights native",
        )
    opts = options or RenderOptions()
    ctx = build_context(plan, opts, target)
    targets = TARGETS if target == "all" else (target,)
    files: dict[str, str] = {}
    for name in targets:
        for rel, text in _module(name).render(ctx).items():
            files[f"{name}/{rel}"] = text
    files["plan.json"] = json.dumps(plan.model_dump(mode="json"), indent=2) + "\n"
    files["README.md"] = render_template(
        "bundle/README.md.j2",
        ctx=ctx,
        header=header_lines(ctx),
        targets=targets,
        files=sorted(files),
    )
    return files


def render_bundle(
    plan: Plan,
    target: str,
    out: str | Path,
    *,
    force: bool = False,
    options: RenderOptions | None = None,
) -> WriteReport:
    """Render and write atomically; refuses to overwrite edited files unless `force`."""
    files = render_files(plan, target, options)
    return write_bundle(Path(out), files, force=force)


__all__ = [
    "TARGETS",
    "TARGET_CHOICES",
    "RenderContext",
    "RenderOptions",
    "WriteReport",
    "render_bundle",
    "render_files",
]
