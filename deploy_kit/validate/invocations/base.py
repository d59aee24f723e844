"""vLLM server invocations found in containers, with the context the domain rules need."""

from __future__ import annotations

import ast
import os
import re
import shlex
from collections.abc import Mapping, Sequence
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
_INTEGER = re.compile(r"^\s*-?\d+\s*$")
# $NAME and ${NAME} (also ${NAME:-default}, whose default is not taken: the real value is
# unknown here); inside $((...)) names may also stand bare.
_SHELL_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_ARITH_NAME = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-=?+][^}]{0,256})?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
    r"|\b([A-Za-z_][A-Za-z0-9_]*)\b"
)
_ARITH_TEXT = re.compile(r"^[0-9\s+\-*/%()]+$")
# Rank and size arithmetic is a few terms (`$((LWS_WORKER_INDEX * 8))`); a bound keeps a hostile
# script from a deep parse.
_ARITH_MAX_CHARS = 200


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
class RayRole:
    """A Ray node the container starts: the head (where `vllm serve` forms the engine over the
    whole Ray cluster) or a worker that only lends its GPUs."""

    role: Literal["head", "worker", "both"]  # both: one template whose script picks at run time
    how: str  # "ray start --head", "multi-node-serving.sh leader", "KubeRay headGroupSpec", ...
    where: Where
    cluster_size: str | None = None  # nodes the head waits for (--ray_cluster_size), as given
    num_gpus: int | None = None  # GPUs the node offers Ray (ray start --num-gpus), if said


@dataclass(frozen=True)
class ServeLlm:
    """One model of a Ray Serve LLM app (a RayService's serveConfigV2): each replica is a vLLM
    engine of TP x PP x DP GPUs placed on the Ray cluster."""

    model: str
    gpus_per_replica: int
    replicas: int  # the fewest Serve keeps: num_replicas, or autoscaling min_replicas
    where: Where


@dataclass(frozen=True)
class DeclaredLayout:
    """Parallel sizes a controller turns into the vLLM command itself (KServe's
    LLMInferenceService `parallelism`): GPUs per pod follow from them, not from an argv."""

    tensor: int
    data: int
    data_local: int
    multi_node: bool  # a worker template: data-parallel over a LeaderWorkerSet group
    where: Where

    @property
    def gpus_per_pod(self) -> int:
        return self.tensor * (self.data_local if self.multi_node else 1)


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
    ray: RayRole | None = None
    pods: int | None = 1  # pods this template runs in one group (None: not known here)
    max_pods: int | None = 1  # the most an autoscaler may run (None: unbounded or unknown)
    serve_llm: tuple[ServeLlm, ...] = ()  # Ray Serve LLM models the cluster must place
    declared: DeclaredLayout | None = None
    program_in_args: Where | None = None  # args repeat the program the image already runs

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


def _repository_name(image: str) -> str:
    """`registry/org/name:tag@digest` -> `name`."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0].lower()


def runs_vllm_server(image: str | None, first_arg: str | None) -> bool:
    """Whether a container with no command of its own hands its arguments to vLLM's server:
    vLLM's images, or a third-party build named after vLLM (opea/vllm-rocm, the vLLM CPU
    release images) given vLLM's `--model` first, which no other program there would take."""
    if is_vllm_image(image):
        return True
    return bool(image) and "vllm" in _repository_name(image or "") and first_arg == "--model"


def looks_like_program(token: str) -> bool:
    """Whether an argument names a program (a shell, python, vllm, ray, a script) rather than
    a model or a flag: given as args to an image whose ENTRYPOINT is `vllm serve`, it is run
    as `vllm serve <program> ...`."""
    base = os.path.basename(token)
    return (
        base in _SHELLS
        or base in (vllm.SERVE[0], "ray")
        or bool(_PYTHON.match(base))
        or base.endswith(".sh")
    )


@dataclass(frozen=True)
class Found:
    """What find_vllm returns: the call (if any), env assignments before it, a shell error."""

    call: VllmCall | None
    inline_env: tuple[EnvVar, ...] = ()
    shell_error: str | None = None
    ray: RayRole | None = None


def find_vllm(
    tokens: Sequence[str],
    wheres: Sequence[Where],
    *,
    version: str = DEFAULT_VLLM_VERSION,
    env: Mapping[str, str] | None = None,
) -> Found:
    """The vLLM server invocation in a process argv: direct, after `exec`/`env`, or inside a
    `sh -c` script (whose `"$@"` takes the arguments after $0), and the Ray node the process
    starts first, if any. In a script, `$VAR`, `${VAR}` and `$((...))` are expanded from `env`
    (literal values the container is given) and the script's own plain assignments."""
    tokens, wheres = list(tokens), list(wheres)
    if not tokens:
        return Found(None)
    start, inline = _program_start(tokens, wheres)
    if start is not None:
        rest = len(tokens) - start
        return Found(_call(tokens[start:], wheres[start:], version, (False,) * rest), inline)
    if os.path.basename(tokens[0]) not in _SHELLS:
        return Found(None, ray=ray_start(tokens, wheres[0]))
    script_at = _shell_script_index(tokens)
    if script_at is None:
        return Found(None)
    script, where = tokens[script_at], wheres[script_at]
    positional = list(zip(tokens[script_at + 2 :], wheres[script_at + 2 :], strict=True))
    try:
        commands = shell_commands(script)
    except ValueError as exc:
        return Found(None, shell_error=f"cannot split the shell command: {exc}")
    known = {k: v for k, v in (env or {}).items() if "$" not in v}
    assigned: set[str] = set()
    roles: list[RayRole] = []
    call: VllmCall | None = None
    call_env: tuple[EnvVar, ...] = ()
    for raw_words in commands:
        if _assign(raw_words, known, assigned):
            continue
        words = [expand_shell(w, known) for w in raw_words]
        role = ray_start(words, where)
        if role is not None:
            roles.append(role)
            continue
        if call is not None:
            continue
        word_wheres = [where] * len(words)
        begin, call_inline = _program_start(words, word_wheres)
        if begin is None:
            continue
        argv: list[str] = []
        argv_wheres: list[Where] = []
        expanded: list[bool] = []
        for raw, word in zip(raw_words[begin:], words[begin:], strict=True):
            if raw in ("$@", "${@}", "$*", "${*}"):
                argv += [t for t, _ in positional]
                argv_wheres += [w for _, w in positional]
                expanded += [False] * len(positional)  # "$@" hands them over verbatim
            else:
                argv.append(word)
                argv_wheres.append(where)
                expanded.append(True)
        call = _call(argv, argv_wheres, version, tuple(expanded))
        call_env = call_inline
    return Found(call, call_env, ray=_merge_roles(roles))


# Scripts that start a Ray node for vLLM: `leader --ray_cluster_size=N` starts the head and waits
# for N nodes, `worker --ray_address=HOST` joins it. vllm-project/vllm
# examples/online_serving/multi-node-serving.sh; kubernetes-sigs/lws docs/examples/vllm/build/
# ray_init.sh (its predecessor, same arguments).
RAY_SCRIPTS = frozenset({"multi-node-serving.sh", "ray_init.sh"})


def ray_start(words: Sequence[str], where: Where) -> RayRole | None:
    """The Ray node a command starts: `ray start --head`, `ray start --address=...`, or vLLM's
    multi-node-serving.sh leader/worker."""
    i = 0
    while i < len(words) and (words[i] in _PREFIX_WORDS or _ASSIGNMENT.match(words[i])):
        i += 1
    rest = list(words[i:])
    if len(rest) >= 2 and os.path.basename(rest[0]) in _SHELLS:
        rest = rest[1:]
    if len(rest) < 2:
        return None
    program = os.path.basename(rest[0])
    if program == "ray" and rest[1] == "start":
        gpus = _num_gpus(rest)
        if "--head" in rest:
            return RayRole("head", "ray start --head", where, num_gpus=gpus)
        if any(w == "--address" or w.startswith("--address=") for w in rest):
            return RayRole("worker", "ray start --address", where, num_gpus=gpus)
        return None
    if program in RAY_SCRIPTS and rest[1] in ("leader", "worker"):
        size = next(
            (w.split("=", 1)[1] for w in rest[2:] if w.startswith("--ray_cluster_size=")), None
        )
        role: Literal["head", "worker"] = "head" if rest[1] == "leader" else "worker"
        return RayRole(role, f"{program} {rest[1]}", where, size)
    return None


def _num_gpus(words: Sequence[str]) -> int | None:
    """`ray start --num-gpus N` (or =N): the GPUs the node offers Ray, whatever it has."""
    for i, word in enumerate(words):
        value = None
        if word.startswith("--num-gpus="):
            value = word.split("=", 1)[1]
        elif word == "--num-gpus" and i + 1 < len(words):
            value = words[i + 1]
        if value is not None:
            return int(value) if _INTEGER.match(value) and int(value) >= 0 else None
    return None


def expand_shell(word: str, known: Mapping[str, str]) -> str:
    """A shell word with the variables whose values are known substituted, and `$((...))`
    evaluated when every name in it is known; unknown names stay (bare inside arithmetic, so
    `$(( ${LWS_WORKER_INDEX:-0} * N ))` reads `$((LWS_WORKER_INDEX * 8))`)."""
    if "$" not in word:
        return word

    def arith(match: re.Match[str]) -> str:
        expr = match.group(0)[3:-2]

        def name(m: re.Match[str]) -> str:
            var = m.group(1) or m.group(2) or m.group(3)
            value = known.get(var)
            return value if value is not None and _INTEGER.match(value) else var

        text = _ARITH_NAME.sub(name, expr).strip()
        value = _arithmetic(text)
        return str(value) if value is not None else f"$(({text}))"

    def var(match: re.Match[str]) -> str:
        value = known.get(match.group(1) or match.group(2))
        return value if value is not None else match.group(0)

    return _SHELL_VAR.sub(var, _ARITH.sub(arith, word))


def _assign(words: Sequence[str], known: dict[str, str], assigned: set[str]) -> bool:
    """Plain `NAME=value` (or `export NAME=value`) commands update `known`; a name assigned
    twice with different values (branches, `ARGS="$ARGS ..."`) is forgotten: not a guess."""
    body = [w for w in words if w not in ("export", "then", "else", "do", "{")]
    if not body or not all(_ASSIGNMENT.match(w) for w in body):
        return False
    for word in body:
        name, _, value = word.partition("=")
        value = expand_shell(value, known)
        if name in assigned and known.get(name) != value:
            known.pop(name, None)
            continue
        assigned.add(name)
        if "$" in value:
            known.pop(name, None)
        else:
            known[name] = value
    return True


def _merge_roles(roles: Sequence[RayRole]) -> RayRole | None:
    if not roles:
        return None
    kinds = {r.role for r in roles}
    head = next((r for r in roles if r.role == "head"), roles[0])
    if kinds == {"worker"}:
        return roles[0]
    if "worker" in kinds:
        return RayRole("both", head.how, head.where, head.cluster_size, head.num_gpus)
    return head


def _arithmetic(text: str) -> int | None:
    """Integer value of a shell arithmetic expression of numbers and + - * / % ( ); None for
    anything else, or anything longer than a launch script's arithmetic ever is."""
    if len(text) > _ARITH_MAX_CHARS or not _ARITH_TEXT.match(text):
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None
    return _eval(tree.body)


def _eval(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _eval(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and right != 0:
            # The shell's / truncates toward zero, like int() of the quotient.
            if isinstance(node.op, ast.Mod):
                return int(left - right * int(left / right))
            return int(left / right)
    return None


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
