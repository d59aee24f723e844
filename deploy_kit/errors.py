"""The one exception tree of deploy-kit and the exit code each maps to."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; the CLI maps every error to exactly one of these."""

    OK = 0
    LINT_ERRORS = 1
    BAD_INPUT = 2
    NO_FIT = 3
    ENVIRONMENT = 4
    INTERNAL = 70


class DeployKitError(Exception):
    """Base of every error the CLI reports as a one-line message (never a traceback)."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(DeployKitError):
    """Bad input or usage: unknown model, malformed file, impossible knob (exit 2)."""

    exit_code = ExitCode.BAD_INPUT


class PinnedKnobError(InputError):
    """A knob the user pinned breaks a planning rule; the message names the rule (exit 2)."""

    def __init__(self, message: str, *, rule: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.rule = rule


class PlanError(DeployKitError):
    """No plan fits the hardware; the hint says the smallest change that would fit (exit 3)."""

    exit_code = ExitCode.NO_FIT


class EnvironmentMissing(DeployKitError):
    """A required environment is absent: docker engine, GPU, cluster, external tool (exit 4)."""

    exit_code = ExitCode.ENVIRONMENT


class ToolMissing(EnvironmentMissing):
    """An external validator (helm, hadolint, docker compose, ...) is not installed (exit 4)."""


class LintFailed(DeployKitError):
    """Lint found errors (exit 1)."""

    exit_code = ExitCode.LINT_ERRORS


class EditedFileError(InputError):
    """Re-rendering would overwrite files a person edited since deploy-kit wrote them (exit 2)."""

    def __init__(self, paths: list[str]) -> None:
        listed = ", ".join(paths)
        super().__init__(
            f"refusing to overwrite {len(paths)} edited file(s): {listed}",
            hint="keep your edits elsewhere, or pass --force (a .bak copy of each is kept)",
        )
        self.paths = paths
