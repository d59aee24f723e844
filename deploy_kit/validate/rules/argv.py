"""Domain rules on any container: vLLM arguments, image pinning, secrets, env, V4 flags."""

from __future__ import annotations

import re
from collections.abc import Sequence

from deploy_kit.validate.findings import Finding
from deploy_kit.validate.invocations.base import Container, Where, symbolic
from deploy_kit.validate.rules.facts import Facts, finding
from deploy_kit.vllm import argv as vllm
from deploy_kit.vllm.flag_table import (
    RemovedItem,
    load_removed,
    removed_after,
    removed_item,
    version_from_image,
)

# Compose interpolation with a default: ${VAR:-default} or ${VAR-default}.
_COMPOSE_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}$]{0,256})\}")
_K8S_UNEXPANDED = re.compile(r"\$(?:\(\(|\{|[A-Za-z_])")
_ANY_DOLLAR = re.compile(r"\$")


def argv_rule(f: Facts) -> list[Finding]:
    """DK100: every flag exists in the pinned version's table, with a valid value."""
    out: list[Finding] = []
    argv = f.call.argv
    for p in f.call.parsed.problems:
        if p.code in ("bad-type", "bad-choice", "bad-json", "unknown-json-key") and _symbolic_at(
            argv, p.index
        ):
            continue  # the value is expanded at run time; nothing to check here
        if p.code == "unexpected-positional" and _symbolic_at(argv, p.index, same_only=True):
            continue
        if p.code == "requires-flag" and p.flag == vllm.F_AUTO_TOOL and f.is_v4:
            continue  # DK113 says it with the parser DeepSeek V4 needs
        removed = removed_item(p.flag) if p.code == "removed-flag" and p.flag else None
        pinned = pinned_version(f.container, f.ctx.version)
        message = p.message
        if removed is not None and removed_after(removed, pinned):
            out.append(_blocks_upgrade(f.call.at(p.index), "DK100", removed, pinned))
            continue
        if removed is not None:
            message = f"{removed.name} was removed in vLLM {removed.removed_in}; vLLM {pinned} "
            message += "refuses it (unrecognized arguments)"
        out.append(finding("DK100", f.call.at(p.index), message, severity=p.severity, hint=p.hint))
    return out + _unexpanded(f)


def pinned_version(c: Container, lint_version: str) -> str:
    """The vLLM release a container runs: its image tag (vllm/vllm-openai:v0.8.5) when it
    names one, else the lint's --vllm-version (the pinned default unless given)."""
    return version_from_image(c.image) or lint_version


def _blocks_upgrade(where: Where, rule: str, item: RemovedItem, pinned: str) -> Finding:
    # What the pinned release accepts is not an error today; it is what stops an upgrade.
    return finding(
        rule,
        where,
        f"{item.name} was removed in vLLM {item.removed_in}; vLLM {pinned} still "
        f"{'accepts' if item.kind == 'flag' else 'reads'} it, but it blocks upgrading",
        severity="warning",
        hint=f"{item.hint} before upgrading past vLLM {item.last_seen_in} "
        f"(removed by {item.removed_by})",
    )


def _unexpanded(f: Facts) -> list[Finding]:
    """Shell syntax in an exec-form token reaches vLLM as it is written."""
    source = f.container.source
    if source == "compose":
        return []  # compose interpolates $VAR and ${VAR} itself
    pattern = _K8S_UNEXPANDED if source == "kubernetes" else _ANY_DOLLAR
    out = []
    for token, where, expanded in zip(f.call.argv, f.call.wheres, f.call.expanded, strict=False):
        if not expanded and pattern.search(token):
            how = (
                "Kubernetes expands only $(VAR) in command and args"
                if source == "kubernetes"
                else "exec-form CMD/ENTRYPOINT is not run through a shell"
            )
            out.append(
                finding(
                    "DK100",
                    where,
                    f"{token!r} reaches vLLM unexpanded: {how}",
                    hint="run the command through sh -c, or use $(VAR) "
                    "(Kubernetes) / the shell form (Dockerfile)",
                )
            )
    return out


def _symbolic_at(argv: Sequence[str], index: int | None, *, same_only: bool = False) -> bool:
    if index is None:
        return False
    candidates = argv[index : index + (1 if same_only else 2)]
    return any(symbolic(t) for t in candidates)


def image_rule(c: Container) -> list[Finding]:
    """DK111: the image names a release (tag other than latest) or a digest."""
    image = c.image
    if image and c.source == "compose" and symbolic(image):
        # ${TAG:-latest}: what compose pulls when the variable is unset.
        image = _COMPOSE_DEFAULT.sub(lambda m: m.group(1), image)
    if not image or symbolic(image) or "@" in image or image == "scratch":
        return []
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag is None:
        return [
            finding(
                "DK111",
                c.image_where,
                f"{c.label}: image {image!r} has no tag, so "
                "it pulls `latest` (whatever is newest at pull time)",
            )
        ]
    if tag == "latest":
        return [
            finding(
                "DK111",
                c.image_where,
                f"{c.label}: image {image!r} uses `latest`; nodes pulling at different "
                f"times run different {'vLLM versions' if c.vllm else 'versions of it'}",
            )
        ]
    return []


def removed_env_rule(c: Container, lint_version: str = vllm.PINNED_VLLM) -> list[Finding]:
    """DK114: variables vLLM removed (the V0 engine switch, the attention backend override),
    judged by the release the container runs (catalog/vllm_removed.json)."""
    removed = {name: item for name, item in load_removed().items() if item.kind == "env"}
    pinned = pinned_version(c, lint_version)
    out: list[Finding] = []
    for var in c.env:
        item = removed.get(var.name)
        if item is None or var.kind != "env":
            continue
        if removed_after(item, pinned):
            out.append(_blocks_upgrade(var.where, "DK114", item, pinned))
            continue
        out.append(
            finding(
                "DK114",
                var.where,
                f"{c.label}: {var.name} was removed in vLLM {item.removed_in} and is ignored"
                + (f"; use {item.replacement}" if item.replacement else ""),
                hint=item.hint,
            )
        )
    return out


def _prefill_only(f: Facts) -> bool:
    """A disaggregated prefill server (kv_role kv_producer): the router discards its reply and
    the decode server answers the client, so the parsers belong there (vLLM's disaggregated
    prefill examples and llm-d's P/D guides start the prefill side without them)."""
    config = f.call.parsed.json_value(vllm.F_KV_TRANSFER_CONFIG)
    return config is not None and config.get("kv_role") == "kv_producer"


def v4_flags_rule(f: Facts) -> list[Finding]:
    """DK113: the cache layout, tokenizer and parsers DeepSeek V4 needs."""
    if not f.is_v4:
        return []
    out: list[Finding] = []
    start = f.start
    for flag, wanted in vllm.REQUIRED_V4.items():
        value = f.raw(flag)
        if value is None:
            out.append(finding("DK113", start, f"{flag} {wanted} is missing ({f.model})"))
        elif not symbolic(value) and value != wanted:
            out.append(
                finding(
                    "DK113",
                    f.call.where_of(flag),
                    f"{flag} is {value!r}; DeepSeek V4 needs {wanted!r}",
                )
            )
    chat = f.checkpoint.chat if f.checkpoint is not None else "base" not in (f.model or "").lower()
    if f.headless or not chat or _prefill_only(f):
        return out
    auto_tool = f.call.parsed.switch(vllm.F_AUTO_TOOL) is True
    for flag in (vllm.F_TOOL_PARSER, vllm.F_REASONING_PARSER):
        value = f.raw(flag)
        if value is None:
            needed = flag == vllm.F_TOOL_PARSER and auto_tool
            out.append(
                finding(
                    "DK113",
                    start,
                    f"{flag} {vllm.V4_PARSER} is missing"
                    + (
                        f" although {vllm.F_AUTO_TOOL} is on (vLLM refuses to start)"
                        if needed
                        else ": tool calls / reasoning are not parsed"
                    ),
                    severity="error" if needed else "warning",
                )
            )
        elif not symbolic(value) and value != vllm.V4_PARSER:
            out.append(
                finding(
                    "DK113",
                    f.call.where_of(flag),
                    f"{flag} is {value!r}; DeepSeek V4 uses {vllm.V4_PARSER!r}",
                )
            )
    return out
