"""Turning command-line flags and deployment files into (model, hardware, knobs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from deploy_kit.catalog import Catalog
from deploy_kit.errors import InputError
from deploy_kit.spec import Base, HardwareFile, HardwareProfile, Knobs
from deploy_kit.yamlio import load_yaml_file, validation_message

DEFAULT_MODEL = "deepseek-v4-flash"
DEFAULT_HARDWARE = "8xH200"
# Keys that only a hardware profile has at its top level (spec.HardwareFile).
HARDWARE_KEYS = frozenset({"gpu", "gpus_per_node", "nodes", "network", "interconnect"})


class DeploymentFile(Base):
    """deploy.yaml: everything `plan` and `render` need, in one file."""

    model: str = Field(default=DEFAULT_MODEL, max_length=200, description="Model or checkpoint id")
    hardware: str | HardwareFile = Field(description="Preset/shorthand or a hardware mapping")
    knobs: Knobs = Field(default_factory=Knobs, description="Planner knobs")


def load_deployment(path: Path, catalog: Catalog) -> tuple[str, HardwareProfile, Knobs]:
    data = load_yaml_file(path, what="deployment file")
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with model, hardware, knobs")
    if "hardware" not in data and HARDWARE_KEYS & data.keys():
        raise InputError(
            f"{path} is a hardware profile (as `deploy-kit discover` writes), not a deployment "
            f"file: pass it as --hardware {path}",
            hint="a deployment file holds model, hardware and knobs",
        )
    try:
        dep = DeploymentFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(validation_message(exc, origin=str(path))) from None
    if isinstance(dep.hardware, str):
        hw = catalog.hardware(dep.hardware)
    else:
        hw = catalog.hardware_from_data(
            dep.hardware.model_dump(exclude_none=True), origin=str(path)
        )
    return dep.model, hw, dep.knobs


def build_knobs(values: dict[str, Any], base: Knobs | None = None) -> Knobs:
    """Knobs from CLI values (None = not given), layered over a deployment file's knobs."""
    merged = (base.model_dump(exclude_defaults=True) if base else {}) | {
        k: v for k, v in values.items() if v is not None
    }
    try:
        return Knobs.model_validate(merged)
    except ValidationError as exc:
        raise InputError(validation_message(exc, origin="knobs")) from None
