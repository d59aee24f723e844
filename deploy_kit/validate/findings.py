"""The one finding type every validator returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["error", "warning", "info"]


class Finding(BaseModel):
    """One problem a validator found in one file, located as precisely as the checker allows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str = Field(
        description='rule id: "DK101" for domain rules, "<tool>/<rule>" (e.g. '
        '"yamllint/key-duplicates", "hadolint/DL3007") or "k8s-schema" for checkers'
    )
    severity: Severity = Field(description="error fails lint; warning and info do not")
    message: str = Field(description="one line saying what is wrong")
    file: str = Field(description="path of the file the finding is in, as given to the checker")
    line: int | None = Field(default=None, description="1-based line, when known")
    document: int | None = Field(
        default=None, description="0-based index of the document in a multi-document YAML file"
    )
    path: str | None = Field(
        default=None,
        description="JSON path inside the document, e.g. "
        "spec.template.spec.containers[0].resources",
    )
    hint: str | None = Field(default=None, description="what to do about it")
    source: str = Field(description="the checker that produced it: yamllint, hadolint, ...")
