"""deploy-kit: plan, render and validate self-hosted vLLM deployments of DeepSeek V4."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deploy_kit.version import __version__

if TYPE_CHECKING:
    from deploy_kit.catalog import Catalog
    from deploy_kit.renderer import RenderOptions, WriteReport
    from deploy_kit.spec import HardwareProfile, Knobs, Plan
    from deploy_kit.validate.report import LintReport


def load_catalog() -> Catalog:
    """The packaged catalog of models, checkpoints, GPUs and presets."""
    from deploy_kit.catalog import load_catalog as _load

    return _load()


def plan(model: str, hardware: str | HardwareProfile, knobs: Knobs | None = None) -> Plan:
    """Plan `model` on `hardware` (a preset, shorthand, YAML path or a HardwareProfile)."""
    from deploy_kit.planner import search as planner
    from deploy_kit.spec import Knobs as _Knobs

    catalog = load_catalog()
    hw = catalog.hardware(hardware) if isinstance(hardware, str) else hardware
    return planner.plan(catalog, model, hw, knobs or _Knobs())


def render(
    plan_: Plan, target: str, out: str, *, force: bool = False, options: RenderOptions | None = None
) -> WriteReport:
    """Render a plan into a bundle directory (atomic; edited files are never overwritten)."""
    from deploy_kit.renderer import render_bundle

    return render_bundle(plan_, target, out, force=force, options=options)


def lint(paths: list[str], **options: Any) -> LintReport:
    """Lint rendered or hand-written deployment files (see deploy_kit.validate.lint)."""
    from deploy_kit.validate.lint import lint_paths

    return lint_paths(paths, **options)


__all__ = ["__version__", "lint", "load_catalog", "plan", "render"]
