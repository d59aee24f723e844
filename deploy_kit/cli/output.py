"""Formatting of command results: rich tables, JSON, YAML and CSV (rich, yaml imported lazily)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def to_yaml(data: Any) -> str:
    import yaml  # only `-o yaml` pays for it

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return " ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


# Columns people copy into the next command: shown whole on one line, never wrapped or cut.
KEY_COLUMNS = frozenset({"id", "hf_id", "k8s_resource"})


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None) -> str:
    """A rich table rendered to text. Key columns are never cut; the others wrap (never "…")."""
    from rich.table import Table

    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    t = Table(title=title, show_lines=False, header_style="bold")
    for i, col in enumerate(columns):
        if col in KEY_COLUMNS:
            longest = max([len(col), *(len(r[i]) for r in cells)])
            t.add_column(col, no_wrap=True, min_width=longest)
        else:
            t.add_column(col, overflow="fold")
    for r in cells:
        t.add_row(*r)
    return render_rich(t)


def render_rich(renderable: Any, width: int = 160) -> str:
    """Text of a rich renderable, `width` wide or as wide as its unbreakable cells need."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(width=width, record=True, file=io.StringIO(), force_terminal=False)
    need = Measurement.get(console, console.options, renderable).minimum
    if need > width:  # never crop a column: rich cuts the right edge off a too-wide table
        console = Console(width=need, record=True, file=io.StringIO(), force_terminal=False)
    console.print(renderable)
    return console.export_text()
