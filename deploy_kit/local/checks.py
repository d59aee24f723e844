"""Preflight results: one line per check, and the error that stops `up` at the first failure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from deploy_kit.errors import DeployKitError, ExitCode

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class CheckResult:
    """One preflight line: what was checked, the outcome, and for a failure the fix."""

    name: str
    status: Status
    message: str
    hint: str | None = None
    exit_code: ExitCode = ExitCode.ENVIRONMENT

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def line(self) -> str:
        mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[self.status]
        return f"{mark} {self.name}: {self.message}"


class PreflightFailed(DeployKitError):
    """A preflight check failed; the exit code is the check's (4 environment, 2 input)."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message, hint=result.hint)
        self.result = result
        self.exit_code = result.exit_code


def raise_first_failure(results: Iterable[CheckResult]) -> None:
    for result in results:
        if not result.ok:
            raise PreflightFailed(result)


def ok(name: str, message: str) -> CheckResult:
    return CheckResult(name, "ok", message)


def warn(name: str, message: str, hint: str | None = None) -> CheckResult:
    return CheckResult(name, "warn", message, hint)


def fail(
    name: str, message: str, hint: str, exit_code: ExitCode = ExitCode.ENVIRONMENT
) -> CheckResult:
    return CheckResult(name, "fail", message, hint, exit_code)
