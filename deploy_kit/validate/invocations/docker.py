"""A Dockerfile's final stage as a container: base image, ENV/ARG, ENTRYPOINT+CMD, HEALTHCHECK."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from deploy_kit.validate.invocations.base import (
    Container,
    EnvVar,
    Probe,
    Where,
    find_vllm,
    is_vllm_image,
    looks_like_program,
)
from deploy_kit.validate.invocations.compose import duration_s
from deploy_kit.validate.invocations.k8s import as_int
from deploy_kit.vllm.argv import SERVE

_DIRECTIVE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.IGNORECASE)
_HEREDOC = re.compile(r"<<-?\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?")
_HC_INTERVAL_S = 30.0
_HC_RETRIES = 3


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its arguments (continuations joined) and first line."""

    keyword: str
    args: str
    line: int


@dataclass
class _Stage:
    image: str
    name: str | None
    line: int
    parent: _Stage | None = None
    env: list[EnvVar] = field(default_factory=list)
    entrypoint: tuple[list[str], int] | None = None
    cmd: tuple[list[str], int] | None = None
    healthcheck: Probe | None = None
    healthcheck_none: bool = False


def instructions(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile (comments, continuations and here-documents handled)."""
    lines = text.splitlines()
    escape = "\\"
    for line in lines[:5]:
        m = _DIRECTIVE.match(line.strip())
        if m:
            escape = m.group(1)
    out: list[Instruction] = []
    i = 0
    while i < len(lines):
        raw = lines[i].strip()
        start = i + 1
        i += 1
        if not raw or raw.startswith("#"):
            continue
        parts = [raw]
        while parts[-1].endswith(escape) and i < len(lines):
            parts[-1] = parts[-1][: -len(escape)]
            nxt = lines[i].strip()
            i += 1
            if nxt.startswith("#"):
                parts.append(escape)  # comment lines inside a continuation are dropped
                continue
            parts.append(nxt)
        joined = " ".join(p for p in parts if p != escape).strip()
        keyword, _, args = joined.partition(" ")
        heredoc = _HEREDOC.search(args)
        if heredoc:
            end = heredoc.group(1)
            while i < len(lines) and lines[i].strip() != end:
                i += 1
            i += 1
        out.append(Instruction(keyword.upper(), args.strip(), start))
    return out


def dockerfile_containers(file: str, text: str, version: str) -> list[Container]:
    """The final stage of the Dockerfile as one Container (none for an empty file)."""
    stages = _stages(file, instructions(text))
    if not stages:
        return []
    final = stages[-1]
    chain = _chain(final)
    root = chain[-1]
    env = [e for stage in reversed(chain) for e in stage.env]
    entry = next((s.entrypoint for s in chain if s.entrypoint is not None), None)
    cmd_stage = next((s for s in chain if s.cmd is not None or s.entrypoint is not None), None)
    cmd = cmd_stage.cmd if cmd_stage is not None else None
    tokens: list[str] = []
    wheres: list[Where] = []
    program_in_args = None
    if entry is not None:
        tokens += entry[0]
        wheres += [Where(file, line=entry[1])] * len(entry[0])
    elif is_vllm_image(root.image):
        if cmd is not None and cmd[0] and looks_like_program(cmd[0][0]):
            # CMD runs as `vllm serve <program> ...`: read it as the command meant.
            program_in_args = Where(file, line=cmd[1])
        else:
            tokens += list(SERVE)
            wheres += [Where(file, line=root.line)] * len(SERVE)
    if cmd is not None:
        tokens += cmd[0]
        wheres += [Where(file, line=cmd[1])] * len(cmd[0])
    known = {
        e.name: e.value
        for e in env
        if e.kind == "env" and e.value is not None and "$" not in e.value
    }
    found = find_vllm(tokens, wheres, version=version, env=known)
    health = next((s for s in chain if s.healthcheck is not None or s.healthcheck_none), None)
    probes = (health.healthcheck,) if health is not None and health.healthcheck else ()
    label = f"stage {final.name}" if final.name else "final stage"
    return [
        Container(
            source="dockerfile",
            file=file,
            document=None,
            label=label,
            workload_kind="Dockerfile",
            where=Where(file, line=final.line),
            image=root.image,
            image_where=Where(file, line=root.line),
            env=(*env, *found.inline_env),
            probes=probes,
            vllm=found.call,
            argv=tuple(tokens),
            argv_wheres=tuple(wheres),
            shell_error=found.shell_error,
            group=file,
            ray=found.ray,
            program_in_args=program_in_args,
        )
    ]


def _stages(file: str, items: list[Instruction]) -> list[_Stage]:
    stages: list[_Stage] = []
    by_name: dict[str, _Stage] = {}
    for ins in items:
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            if not words:
                continue
            image = words[0]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stage = _Stage(image, name, ins.line, parent=by_name.get(image.lower()))
            stages.append(stage)
            if name:
                by_name[name.lower()] = stage
            continue
        if not stages:
            continue
        _apply(stages[-1], ins, file)
    return stages


def _apply(stage: _Stage, ins: Instruction, file: str) -> None:
    where = Where(file, line=ins.line)
    if ins.keyword == "ENV":
        stage.env += [EnvVar(k, v, where) for k, v in _pairs(ins.args, legacy=True)]
    elif ins.keyword == "ARG":
        stage.env += [EnvVar(k, v, where, kind="arg") for k, v in _pairs(ins.args) if v]
    elif ins.keyword == "ENTRYPOINT":
        # A new ENTRYPOINT also drops the CMD inherited from the base (see _chain users).
        stage.entrypoint = (_command(ins.args), ins.line)
    elif ins.keyword == "CMD":
        stage.cmd = (_command(ins.args), ins.line)
    elif ins.keyword == "HEALTHCHECK":
        stage.healthcheck, stage.healthcheck_none = _healthcheck(ins.args, where)


def _chain(stage: _Stage) -> list[_Stage]:
    chain = [stage]
    while chain[-1].parent is not None and len(chain) < 64:
        chain.append(chain[-1].parent)
    return chain


def _command(args: str) -> list[str]:
    if args.startswith("["):
        try:
            value = json.loads(args)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    return ["/bin/sh", "-c", args]


def _pairs(args: str, *, legacy: bool = False) -> list[tuple[str, str]]:
    try:
        words = shlex.split(args)
    except ValueError:
        words = args.split()
    if legacy and words and "=" not in words[0]:
        # ENV KEY value with spaces (the old form)
        return [(words[0], args.split(None, 1)[1].strip() if len(words) > 1 else "")]
    out = []
    for word in words:
        key, _, value = word.partition("=")
        out.append((key, value))
    return out


def _healthcheck(args: str, where: Where) -> tuple[Probe | None, bool]:
    words = args.split()
    if words and words[0].upper() == "NONE":
        return None, True
    options: dict[str, str] = {}
    for word in words:
        if not word.startswith("--"):
            break
        key, _, value = word[2:].partition("=")
        options[key] = value
    interval = duration_s(options.get("interval", "30s")) or _HC_INTERVAL_S
    start = duration_s(options.get("start-period", "0s")) or 0.0
    retries = as_int(options.get("retries", _HC_RETRIES)) or _HC_RETRIES
    return Probe("healthcheck", start + interval * retries, False, where), False
