"""DK112: tokens and API keys written into a file, or left for a step that writes them in."""

from __future__ import annotations

import re
from collections.abc import Iterable

from deploy_kit.validate.findings import Finding
from deploy_kit.validate.invocations.base import Container, EnvVar, VllmCall, symbolic
from deploy_kit.validate.placeholders import placeholder_in
from deploy_kit.validate.rules.facts import finding
from deploy_kit.vllm import argv as vllm
from deploy_kit.vllm.flags import load_flags

# Names of variables that hold credentials: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, VLLM_API_KEY,
# OPENAI_API_KEY, AWS_SECRET_ACCESS_KEY's kin, *_PASSWORD.
SECRET_NAME = re.compile(
    r"(?:^|_)(?:TOKEN|API_?KEY|SECRET|SECRET_KEY|PASSWORD|PASSWD|ACCESS_KEY|PRIVATE_KEY)$"
)
# Hugging Face user access tokens start with `hf_`; OpenAI-style keys with `sk-`.
# (huggingface.co/docs/hub/security-tokens; the 20-character floor keeps words like hf_home out)
SECRET_VALUE = re.compile(r"\b(?:hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{16,})\b")
# $VAR and ${VAR}: shell syntax. Kubernetes expands only $(VAR) in env values, command and args
# (kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables).
_SHELL_REF = re.compile(
    r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]{0,256}\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def secret_rule(c: Container) -> list[Finding]:
    """DK112: no token or API key written into env values, ARG defaults or arguments, and none
    left as `$VAR`/`{{X}}` for envsubst or a template step to write in."""
    out: list[Finding] = []
    for var in c.env:
        found = _env_finding(c, var)
        if found is not None:
            out.append(found)
    flagged = _flag_values(c, c.vllm) if c.vllm is not None else []
    said = {(f.line, f.path) for f in flagged}
    for i, token in enumerate(c.argv):
        where = c.argv_wheres[i]
        if SECRET_VALUE.search(token) and (where.line, where.json_path) not in said:
            out.append(
                finding(
                    "DK112",
                    where,
                    f"{c.label}: an argument contains what looks like an access token",
                )
            )
    return _unique(out + flagged)


def _env_finding(c: Container, var: EnvVar) -> Finding | None:
    value = var.value
    if value is None or not value.strip():
        return None  # a reference (secretKeyRef, fieldRef) or empty
    if "env_file" in var.where.path:
        return None  # an env file is where secrets belong
    what = "ARG default" if var.kind == "arg" else "environment variable"
    if SECRET_VALUE.search(value):
        return finding(
            "DK112",
            var.where,
            f"{c.label}: {what} {var.name} holds an access token (an hf_/sk- key) in plain text",
        )
    if not SECRET_NAME.search(var.name.upper()):
        return None
    template = placeholder_in(value) if "{{" in value else None
    if template is not None:
        return finding(
            "DK112",
            var.where,
            f"{c.label}: {what} {var.name} is the placeholder {template}: the "
            "template step writes the token into the manifest in plain text",
        )
    shell = _SHELL_REF.search(value)
    if shell is not None:
        return _shell_ref_finding(c, var, shell.group(0), what)
    if symbolic(value):
        return None  # $(VAR) from another variable (a secretKeyRef), or compose interpolation
    return finding("DK112", var.where, f"{c.label}: {what} {var.name} holds a literal secret value")


def _shell_ref_finding(c: Container, var: EnvVar, ref: str, what: str) -> Finding | None:
    if c.source == "kubernetes":
        return finding(
            "DK112",
            var.where,
            f"{c.label}: {what} {var.name} is {ref!r}, which Kubernetes does not expand (only "
            "$(VAR)): the server gets those characters, and running the file through envsubst "
            "writes the token into it",
            hint=f"valueFrom: secretKeyRef: {{name: ..., key: ...}} for {var.name}",
        )
    if c.source == "dockerfile" and var.kind == "env":
        return finding(
            "DK112",
            var.where,
            f"{c.label}: ENV {var.name}={ref} stores the build-time value in the image, where "
            "anyone who pulls it can read it",
            hint="pass the token at run time (docker run -e, a secret mount), not through ENV",
        )
    return None  # compose interpolates ${VAR} from the shell or .env: the intended way


def _flag_values(c: Container, call: VllmCall) -> list[Finding]:
    """--api-key KEY / --hf-token TOKEN given a literal on the command line."""
    out: list[Finding] = []
    secret_flags = _secret_flags(call)
    argv, wheres = call.argv, call.wheres
    for j, token in enumerate(argv):
        name, eq, value = token.partition("=")
        if name not in secret_flags:
            continue
        if eq:
            literal, where = value, wheres[j]
        elif j + 1 < len(argv):
            literal, where = argv[j + 1], wheres[j + 1]
        else:
            continue
        if literal and not symbolic(literal) and not literal.startswith("-"):
            out.append(finding("DK112", where, f"{c.label}: {name} is given a literal value"))
    return out


def _secret_flags(call: VllmCall) -> frozenset[str]:
    # The flags named like the secrets' environment variables (--api-key, --hf-token).
    table = load_flags(call.parsed.vllm_version)
    names = {vllm.ENV_HF_TOKEN, vllm.ENV_API_KEY.removeprefix("VLLM_")}
    return frozenset(flag for flag, spec in table.flags.items() if spec.metavar in names)


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    seen: set[Finding] = set()
    out = []
    for f in findings:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out
