"""vLLM server invocations found in containers, with the context the domain rules need."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from deploy_kit.validate.documents import json_path
from deploy_kit.vllm import argv as vllm
from deploy_kit.vllm.flags import DEFAULT_VLLM_VERSION, ParsedArgv, parse_argv

Source = Literal["kubernetes", "compose", "dockerfile"]
ProbeKind = Literal["startup", "liveness", "readiness", "healthcheck"]

# Images whose ENTRYPOINT is `vllm serve`: args alone are the server's arguments.
VLLM_IMAGE = re.compile(r"(?:^|/)vllm-openai(?:-rocm)?(?::|@|$)")
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})
# Words that may stand before the program in a shell command or an exec-form argv.
_PREFIX_WORDS = frozenset(
    {"exec", "env", "nohup", "time", "then", "else", "do", "{", "!", "--", "tini", "dumb-init"}
)
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_ARITH = re.compile(r"\$\(\((?:[^()]|\([^()]*\))*\)\)")
_SUBST = re.compile(r"\$\((?:[^()]|\([^()]*\))*\)")
_REDIRECT = re.compile(r"(?<![^\s;&|])\d*(?:>>?|<)&?\s*[^\s;&|]+")
_SEPARATOR_CHARS = frozenset(";&|\n")
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")


@dataclass(frozen=True)
class Where:
    """A location: file, document, JSON path inside it and the line it starts on."""

    file: str
    document: int | None = None
    path: tuple[str | int, ...] = ()
    line: int | None = None

    @property
    def json_path(self) -> str | None:
        return json_path(self.path) or None


@dataclass(frozen=True)
class EnvVar:
    """One environment variable; value None when it comes from a reference (secret, field)."""

    name: str
    value: str | None
    where: Where
    kind: Literal["env", "arg"] = "env"  # arg: a Dockerfile ARG default


@dataclass(frozen=True)
class Probe:
    """A health check and how long it tolerates a server that is still loading."""

    kind: ProbeKind
    budget_s: float  # seconds from start until it gives up on the container
    kills: bool  # whether giving up restarts the container
    where: Where


@dataclass(frozen=True)
class Shm:
    """/dev/shm as the container sees it."""

    present: bool  # False: the runtime's 64 MiB default
    size_bytes: int | None  # None: unbounded (host IPC, Memory emptyDir without a limit)
    how: str
    where: Where


@dataclass(frozen=True)
class GpuRequest:
    """GPUs given to the container; count None means all of the machine's (unknown here)."""

    count: int | None
    where: Where
    device_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LwsRole:
    """The LeaderWorkerSet template a container belongs to."""

    role: Literal["leader", "worker", "both"]
    size: int | None
    where: Where  # of leaderWorkerTemplate.size


@dataclass(frozen=True)
class VllmCall:
    """One `vllm serve` (or API server module) argv with the location of every token."""

    argv: tuple[str, ...]
    wheres: tuple[Where, ...]
    parsed: ParsedArgv
    in_shell: bool
    expanded: tuple[bool, ...] = ()  # per token: whether a shell expands it

    def where_of(self, flag: str) -> Where:
        """Where the last occurrence of `flag` (canonical spelling) is; else the program."""
        for index in range(len(self.argv) - 1, -1, -1):
            token = self.argv[index].split("=", 1)[0].replace("_", "-")
            if token == flag:
                return self.wheres[index]
        return self.wheres[0]

    def at(self, index: int | None) -> Where:
        if index is None or not 0 <= index < len(self.wheres):
            return self.wheres[0]
        return self.wheres[index]


@dataclass(frozen=True)
class Container:
    """A container (pod container, compose service, Dockerfile final stage) and its context."""

    source: Source
    file: str
    document: int | None
    label: str
    workload_kind: str
    where: Where
    image: str | None
    image_where: Where
    env: tuple[EnvVar, ...] = ()
    env_complete: bool = True  # False: envFrom / unread env files may set more
    gpus: GpuRequest | None = None
    shm: Shm | None = None  # None: not known for this source (Dockerfile)
    probes: tuple[Probe, ...] = ()
    lws: LwsRole | None = None
    host_network: bool | None = None
    vllm: VllmCall | None = None
    argv: tuple[str, ...] = ()
    argv_wheres: tuple[Where, ...] = ()
    shell_error: str | None = None
    group: str = ""
    service: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def env_value(self, name: str) -> tuple[bool, str | None]:
        """(set?, literal value or None when it is a reference)."""
        for var in reversed(self.env):
            if var.name == name and var.kind == "env":
                return True, var.value
        return False, None


def symbolic(token: str | None) -> bool:
    """Whether a value is left to the shell, Kubernetes or compose to expand."""
    return token is not None and "$" in token


def is_vllm_image(image: str | None) -> bool:
    return bool(image) and VLLM_IMAGE.search(image or "") is not None


@dataclass(frozen=True)
class Found:
    """What find_vllm returns: the call (if any), env assignments before it, a shell error."""

    call: VllmCall | None
    inline_env: tuple[EnvVar, ...] = ()
    shell_error: str | None = None


def find_vllm(
    tokens: Sequence[str],
    wheres: Sequence[Where],
    *,
    version: str = DEFAULT_VLLM_VERSION,
) -> Found:
    """The vLLM server invocation in a process argv: direct, after `exec`/`env`, or inside a
    `sh -c` script (whose `"$@"` takes the arguments after $0)."""
    tokens, wheres = list(tokens), list(wheres)
    if not tokens:
        return Found(None)
    start, inline = _program_start(tokens, wheres)
    if start is not None:
        rest = len(tokens) - start
        return Found(_call(tokens[start:], wheres[start:], version, (False,) * rest), inline)
    if os.path.basename(tokens[0]) not in _SHELLS:
        return Found(None)
    script_at = _shell_script_index(tokens)
    if script_at is None:
        return Found(None)
    script, where = tokens[script_at], wheres[script_at]
    positional = list(zip(tokens[script_at + 2 :], wheres[script_at + 2 :], strict=True))
    try:
        commands = shell_commands(script)
    except ValueError as exc:
        return Found(None, shell_error=f"cannot split the shell command: {exc}")
    for words in commands:
        word_wheres = [where] * len(words)
        begin, inline = _program_start(words, word_wheres)
        if begin is None:
            continue
        argv: list[str] = []
        argv_wheres: list[Where] = []
        expanded: list[bool] = []
        for word in words[begin:]:
            if word in ("$@", "${@}", "$*", "${*}"):
                argv += [t for t, _ in positional]
                argv_wheres += [w for _, w in positional]
                expanded += [False] * len(positional)  # "$@" hands them over verbatim
            else:
                argv.append(word)
                argv_wheres.append(where)
                expanded.append(True)
        return Found(_call(argv, argv_wheres, version, tuple(expanded)), inline)
    return Found(None)


def shell_commands(script: str) -> list[list[str]]:
    """Split a shell script into simple commands (words), keeping $(...) and $((...)) whole.

    Good enough for container entry scripts: separators ; && || | & and newlines, quotes,
    comments and redirections; not a shell (no functions, no here-documents)."""
    kept: dict[str, str] = {}

    def keep(match: re.Match[str]) -> str:
        key = f"\x00{len(kept)}\x00"
        kept[key] = match.group(0)
        return key

    text = script.replace("\\\n", " ")
    text = _SUBST.sub(keep, _ARITH.sub(keep, text))
    text = _REDIRECT.sub(" ", text)
    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|\n")
    lex.whitespace = " \t\r"
    lex.whitespace_split = True
    lex.commenters = ""
    commands: list[list[str]] = [[]]
    in_comment = False
    for token in lex:
        if token and set(token) <= _SEPARATOR_CHARS:
            in_comment = in_comment and "\n" not in token
            if commands[-1]:
                commands.append([])
            continue
        if in_comment or (token.startswith("#") and not commands[-1]):
            in_comment = True
            continue
        for key, original in kept.items():
            token = token.replace(key, original)
        commands[-1].append(token)
    return [c for c in commands if c]


def expand_k8s(token: str, env: Sequence[EnvVar]) -> str:
    """Kubernetes' $(VAR) expansion of command/args from literal env values (others kept)."""
    literal = {v.name: v.value for v in env if v.value is not None and v.kind == "env"}

    def sub(match: re.Match[str]) -> str:
        if match.group(1):  # $$(VAR) is an escaped, literal $(VAR)
            return match.group(0)[1:]
        value = literal.get(match.group(2))
        return value if value is not None and "$" not in value else match.group(0)

    return re.sub(r"(\$?)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, token)


# --- helpers ------------------------------------------------------------------------------


def _program_start(
    tokens: Sequence[str], wheres: Sequence[Where]
) -> tuple[int | None, tuple[EnvVar, ...]]:
    env: list[EnvVar] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _PREFIX_WORDS or os.path.basename(token) in ("env", "tini", "dumb-init"):
            i += 1
            continue
        if _ASSIGNMENT.match(token):
            name, _, value = token.partition("=")
            env.append(EnvVar(name, value, wheres[i]))
            i += 1
            continue
        break
    rest = tokens[i:]
    if _is_vllm_program(rest):
        return i, tuple(env)
    return None, ()


def _is_vllm_program(tokens: Sequence[str]) -> bool:
    if len(tokens) >= 2 and os.path.basename(tokens[0]) == vllm.SERVE[0]:
        return tokens[1] == vllm.SERVE[1]
    if len(tokens) >= 3 and _PYTHON.match(os.path.basename(tokens[0])) and tokens[1] == "-m":
        return tokens[2].startswith("vllm.entrypoints")
    return False


def _shell_script_index(tokens: Sequence[str]) -> int | None:
    for i in range(1, len(tokens)):
        token = tokens[i]
        if not token.startswith("-") or token.startswith("--"):
            return None
        if "c" in token[1:]:
            return i + 1 if i + 1 < len(tokens) else None
    return None


def _call(
    argv: list[str], wheres: list[Where], version: str, expanded: tuple[bool, ...]
) -> VllmCall:
    return VllmCall(tuple(argv), tuple(wheres), parse_argv(argv, version), any(expanded), expanded)
