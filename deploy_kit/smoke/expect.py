"""What the endpoint should serve, read from a plan.json or a rendered bundle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy_kit.errors import InputError
from deploy_kit.spec import Plan
from deploy_kit.vllm import argv as vllm

PLAN_FILE = "plan.json"  # every bundle carries the plan it was rendered from (renderer/bundle)


@dataclass(frozen=True)
class Expectations:
    """The rendered facts a smoke run checks against; all None without --plan/--bundle."""

    served_name: str | None = None
    max_model_len: int | None = None
    plan: Plan | None = None
    source: str | None = None


def served_name(plan: Plan) -> str | None:
    """The --served-model-name the head node's argv carries, exactly as rendered."""
    for role in sorted(plan.vllm.argv):
        argv = plan.vllm.argv[role]
        for i, arg in enumerate(argv[:-1]):
            if arg == vllm.F_SERVED_NAME:
                return argv[i + 1]
            if arg.startswith(vllm.F_SERVED_NAME + "="):
                return arg.split("=", 1)[1]
    return None


def load_plan(path: Path) -> Plan:
    from pydantic import ValidationError

    from deploy_kit.yamlio import load_json_file, validation_message

    data = load_json_file(path, what="plan")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            validation_message(exc, origin=str(path)),
            hint="pass a plan written by `deploy-kit plan -o json --out plan.json`",
        ) from None


def from_plan(path: Path) -> Expectations:
    plan = load_plan(path)
    return Expectations(served_name(plan), plan.max_model_len, plan, str(path))


def from_bundle(folder: Path) -> Expectations:
    if not folder.is_dir():
        raise InputError(f"--bundle {folder}: not a folder", hint="pass a rendered bundle's folder")
    plan_file = folder / PLAN_FILE
    if not plan_file.is_file():
        raise InputError(
            f"--bundle {folder}: no {PLAN_FILE} in it",
            hint="pass the --out folder of `deploy-kit render`, or --plan FILE",
        )
    return from_plan(plan_file)


def total_gpus(plan: Plan) -> int:
    """GPUs the plan's per-GPU estimate divides by (planner/assemble: the hardware's total)."""
    return plan.hardware.total_gpus
