"""The one Jinja environment (StrictUndefined) and the resolver for shipped templates and charts."""

from __future__ import annotations

import json
import shlex
from collections.abc import Hashable
from functools import cache
from typing import Any

import jinja2
import yaml

from deploy_kit.resources import resource_dir

# The `yaml` filter sees a few hundred distinct values across a whole render matrix but is
# called thousands of times; PyYAML's emitter is the single largest render cost. Bounded so a
# long-lived process cannot grow it without limit.
_YAML_CACHE_MAX = 4096
_yaml_cache: dict[Hashable, str] = {}
_SCALARS = (str, int, bool, type(None))


def _dump(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


def _scalar_key(value: Any) -> Hashable | None:
    # The exact type is part of the key: True == 1 and 0.0 == -0.0 but they dump differently.
    kind = type(value)
    if kind in _SCALARS:
        return (kind, value)
    if kind is float:
        return (kind, repr(value))
    return None


def _cache_key(value: Any) -> Hashable | None:
    key = _scalar_key(value)
    if key is not None or type(value) not in (list, tuple):
        return key
    items = tuple(_scalar_key(v) for v in value)
    if any(k is None for k in items):
        return None
    return (type(value), items)


def _yaml_value(value: Any) -> str:
    """A scalar or flow collection as YAML, quoted whenever plain style would change its type."""
    key = _cache_key(value)
    if key is None:
        return _dump(value)
    text = _yaml_cache.get(key)
    if text is None:
        if len(_yaml_cache) >= _YAML_CACHE_MAX:
            _yaml_cache.clear()
        text = _yaml_cache[key] = _dump(value)
    return text


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        # Shipped templates do not change while a process runs: no stat() per get_template.
        auto_reload=False,
    )
    # Filters only serialise; they decide nothing.
    env.filters["yaml"] = _yaml_value
    env.filters["json"] = lambda v: json.dumps(v, separators=(",", ":"))
    env.filters["shquote"] = shlex.quote
    return env


@cache
def _template(name: str) -> jinja2.Template:
    return environment().get_template(name)


def render_template(name: str, **values: Any) -> str:
    return _template(name).render(**values)
