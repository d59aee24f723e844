"""deploy-kit: plan, render and validate self-hosted vLLM deployments of DeepSeek V4."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from deploy_kit.catalog import Catalog
    from deploy_kit.spec import HardwareProfile, Knobs, Plan


def load_catalog() -> Catalog:
    """The packaged catalog of models, checkpoints, GPUs and presets."""
    from deploy_kit.catalog import load_catalog as _load

    return _load()


def plan(model: str, hardware: str | HardwareProfile, knobs: Knobs | None = None) -> Plan:
    """Plan `model` on `hardware` (a preset, shorthand, YAML path or a HardwareProfile)."""
    from deploy_kit import planner
    from deploy_kit.spec import Knobs as _Knobs

    catalog = load_catalog()
    hw = catalog.hardware(hardware) if isinstance(hardware, str) else hardware
    return planner.plan(catalog, model, hw, knobs or _Knobs())


__all__ = ["__version__", "load_catalog", "plan"]
