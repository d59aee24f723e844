"""The one Jinja environment (StrictUndefined) and the resolver for shipped templates and charts."""

from __future__ import annotations

import json
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

_PKG = Path(__file__).resolve().parent.parent
_REPO = _PKG.parent


def resource_dir(name: str) -> Path:
    """`templates` or `charts`: the copy packaged in the wheel, else the checkout's (editable)."""
    packaged = _PKG / f"_{name}"
    if packaged.is_dir():
        return packaged
    checkout = _REPO / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"deploy-kit {name} not found (looked in {packaged} and {checkout})")


def _yaml_value(value: Any) -> str:
    """A scalar or flow collection as YAML, quoted whenever plain style would change its type."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    # Filters only serialise; they decide nothing.
    env.filters["yaml"] = _yaml_value
    env.filters["json"] = lambda v: json.dumps(v, separators=(",", ":"))
    env.filters["shquote"] = shlex.quote
    return env


def render_template(name: str, **values: Any) -> str:
    return environment().get_template(name).render(**values)
