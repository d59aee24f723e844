"""Inline SVG charts for the HTML reports: stacked bars and log-log lines, as plain strings.

Every string placed in markup goes through esc(); numbers are formatted with fixed precision so
the same input gives the same bytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence


def legend(items: Sequence[tuple[str, str, str]]) -> str:
    """An HTML list of (label, colour, dash pattern) swatches; hidden from screen readers, which
    get the chart's aria-label and its table instead."""
    lis = "".join(
        '<li><svg width="22" height="10" aria-hidden="true">'
        f'<line x1="1" y1="5" x2="21" y2="5" stroke="{color}" stroke-width="8"'
        f"{_dash(dash)}/></svg>{esc(label)}</li>"
        for label, color, dash in items
    )
    return f'<ul class="legend" aria-hidden="true">{lis}</ul>'


def hbar(
    labels: Sequence[str],
    values: Sequence[Sequence[float]],
    colors: Sequence[str],
    names: Sequence[str],
    unit: str,
    desc: str,
    *,
    ref: tuple[float, str] | None = None,
    ref_color: str = "#B22222",
    money: bool = False,
) -> str:
    """Horizontal (stacked) bars, one row per label, with an x axis and an optional ref line."""
    label_w, plot_w, right, row, bar = 190, 600, 70, 22, 14
    top, bottom = (22 if ref else 8), 34
    width, height = label_w + plot_w + right, top + row * len(labels) + bottom
    ticks = nice_ticks(max([sum(v) for v in values] + [ref[0] if ref else 0.0, 1e-9]))
    scale = plot_w / ticks[-1]
    fmt = usd if money else (lambda v: num(v, 2))
    out = [_svg_open(width, height, desc)]
    base = top + row * len(labels)
    for t in ticks:
        x = label_w + t * scale
        out.append(
            f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{base}"/>'
            f'<text class="tick" x="{x:.1f}" y="{base + 14}" text-anchor="middle">'
            f"{esc(_tick(t))}</text>"
        )
    out.append(
        f'<text class="axis" x="{label_w + plot_w / 2:.1f}" y="{height - 4}" '
        f'text-anchor="middle">{esc(unit)}</text>'
    )
    for i, (label, vals) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row
        out.append(
            f'<text class="label" x="{label_w - 6}" y="{y + row / 2 + 4:.1f}" '
            f'text-anchor="end">{esc(label)}</text>'
        )
        x = float(label_w)
        for v, color, name in zip(vals, colors, names, strict=True):
            w = max(v, 0.0) * scale
            out.append(
                f'<rect x="{x:.1f}" y="{y + (row - bar) / 2:.1f}" width="{w:.1f}" '
                f'height="{bar}" fill="{color}"><title>{esc(label)}: {esc(name)} '
                f"{esc(fmt(v))} {esc(unit)}</title></rect>"
            )
            x += w
        out.append(
            f'<text class="value" x="{x + 4:.1f}" y="{y + row / 2 + 4:.1f}">'
            f"{esc(fmt(sum(vals)))}</text>"
        )
    if ref:
        x = label_w + ref[0] * scale
        out.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{base}" '
            f'stroke="{ref_color}" stroke-width="2" stroke-dasharray="5 3"/>'
            f'<text class="ref" x="{x + 3:.1f}" y="{top - 8}">{esc(ref[1])}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def curves(
    series: Sequence[tuple[str, Sequence[tuple[int, float]], str, str]],
    desc: str,
    *,
    domain: tuple[int, int] = (4096, 1 << 20),
    mark: tuple[int, float, str] | None = None,
    hline: tuple[float, str] | None = None,
) -> str:
    """Log-log lines of concurrency against context, labelled at the right edge."""
    left, plot_w, right, top, bottom = 62, 600, 160, 14, 48
    plot_h = max(280, 13 * len(series) + 20)
    width, height = left + plot_w + right, top + plot_h + bottom
    pts = [p for _, s, _, _ in series for p in s]
    xs = [x for x, _ in pts] or list(domain)
    ys = [y for _, y in pts if y > 0] or [1.0]
    x0, x1 = math.log2(min([*xs, domain[0]])), math.log2(max([*xs, domain[-1]]))
    if hline and min(ys) <= hline[0] <= max(ys) * 10:
        ys.append(hline[0])
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    y1 = max(y1, y0 + 1)

    def px(x: float) -> float:
        return left + (math.log2(x) - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (math.log10(max(y, 10.0**y0)) - y0) / (y1 - y0) * plot_h

    out = [_svg_open(width, height, desc)]
    for d in range(y0, y1 + 1):
        for m in (1, 2, 5):
            v = m * 10.0**d
            if v > 10.0**y1:
                break
            labelled = m == 1 or y1 - y0 <= 2
            out.append(
                f'<line class="{"grid" if m == 1 else "grid minor"}" x1="{left}" '
                f'y1="{py(v):.1f}" x2="{left + plot_w}" y2="{py(v):.1f}"/>'
            )
            if labelled:
                out.append(
                    f'<text class="tick" x="{left - 6}" y="{py(v) + 4:.1f}" '
                    f'text-anchor="end">{esc(_tick(v))}</text>'
                )
    for c in (1 << e for e in range(math.ceil(x0), math.floor(x1) + 1)):
        out.append(
            f'<line class="grid" x1="{px(c):.1f}" y1="{top}" x2="{px(c):.1f}" '
            f'y2="{top + plot_h}"/><text class="tick" x="{px(c):.1f}" '
            f'y="{top + plot_h + 15}" text-anchor="middle">{esc(tokens(c))}</text>'
        )
    out.append(
        f'<text class="axis" x="{left + plot_w / 2:.1f}" y="{height - 8}" '
        'text-anchor="middle">context length per request, tokens (log scale)</text>'
        f'<text class="axis" transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">concurrent requests (log scale)</text>'
    )
    if hline and 10.0**y0 <= hline[0] <= 10.0**y1:
        out.append(
            f'<line x1="{left}" y1="{py(hline[0]):.1f}" x2="{left + plot_w}" '
            f'y2="{py(hline[0]):.1f}" stroke="#555" stroke-dasharray="4 3"/>'
            f'<text class="ref" x="{left + plot_w - 4}" y="{py(hline[0]) - 5:.1f}" '
            f'text-anchor="end">{esc(hline[1])}</text>'
        )
    ends: list[tuple[float, float, float, str, str]] = []
    for label, s, color, dash in series:
        if not s:
            continue
        line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s)
        out.append(
            f'<polyline points="{line}" fill="none" stroke="{color}" '
            f'stroke-width="2"{_dash(dash)}/>'
        )
        out.extend(
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}">'
            f"<title>{esc(label)}: {esc(count(x))} tokens, {esc(num(y, 2))} requests</title>"
            "</circle>"
            for x, y in s
        )
        ends.append((py(s[-1][1]), px(s[-1][0]), py(s[-1][1]), label, color))
    if mark:
        x, y = px(mark[0]), py(mark[1])
        # Below the point (curves fall to the right, so the line comes from above) unless that
        # would run into the x axis.
        ty = y + 20 if y < top + plot_h - 30 else y - 10
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="none" stroke="#000" '
            f'stroke-width="1.5"/><text class="ref" x="{x - 8:.1f}" y="{ty:.1f}" '
            f'text-anchor="end">{esc(mark[2])} {esc(tokens(mark[0]))}: '
            f"{esc(num(mark[1], 2))}</text>"
        )
    last = -1e9
    for ly, x, y, label, color in sorted(ends):
        ly = max(ly, last + 12)
        last = ly
        lx = left + plot_w + 8
        out.append(
            f'<line class="leader" x1="{x:.1f}" y1="{y:.1f}" x2="{lx - 2}" '
            f'y2="{ly:.1f}" stroke="{color}"/><text class="label" x="{lx}" '
            f'y="{ly + 4:.1f}" fill="{color}">{esc(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def pareto(
    points: Sequence[tuple[float, float, str, bool, bool, str]],
    colors: dict[str, str],
    desc: str,
) -> str:
    """Scatter of output tokens/s per GPU (y) against tokens/s per user (x): one colour per
    layout, filled when the point meets the SLA, hollow when it misses; the chosen point ringed
    and labelled. Points: (per user, per GPU, layout, meets, chosen, tooltip)."""
    left, plot_w, right, top, bottom = 70, 600, 20, 14, 48
    plot_h = 300
    width, height = left + plot_w + right, top + plot_h + bottom
    xticks = nice_ticks(max([p[0] for p in points] or [1.0]))
    yticks = nice_ticks(max([p[1] for p in points] or [1.0]))
    xmax, ymax = xticks[-1] or 1.0, yticks[-1] or 1.0

    def px(x: float) -> float:
        return left + x / xmax * plot_w

    def py(y: float) -> float:
        return top + plot_h - y / ymax * plot_h

    out = [_svg_open(width, height, desc)]
    for v in yticks:
        out.append(
            f'<line class="grid" x1="{left}" y1="{py(v):.1f}" x2="{left + plot_w}" '
            f'y2="{py(v):.1f}"/><text class="tick" x="{left - 6}" y="{py(v) + 4:.1f}" '
            f'text-anchor="end">{esc(_tick(v))}</text>'
        )
    for v in xticks:
        out.append(
            f'<line class="grid" x1="{px(v):.1f}" y1="{top}" x2="{px(v):.1f}" '
            f'y2="{top + plot_h}"/><text class="tick" x="{px(v):.1f}" '
            f'y="{top + plot_h + 15}" text-anchor="middle">{esc(_tick(v))}</text>'
        )
    out.append(
        f'<text class="axis" x="{left + plot_w / 2:.1f}" y="{height - 8}" '
        'text-anchor="middle">output tokens/s per user (interactivity)</text>'
        f'<text class="axis" transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">output tokens/s per GPU</text>'
    )
    front = sorted(points, key=lambda p: p[0])
    line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, *_ in front)
    out.append(f'<polyline points="{line}" fill="none" stroke="#999" stroke-width="1"/>')
    for x, y, layout, meets, chosen, tip in points:
        color = colors.get(layout, "#555")
        fill = color if meets else "#fff"
        out.append(
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{fill}" stroke="{color}" '
            f'stroke-width="1.5"><title>{esc(tip)}</title></circle>'
        )
        if chosen:
            ty = py(y) - 10 if py(y) > top + 20 else py(y) + 20
            anchor = "end" if px(x) > left + plot_w / 2 else "start"
            out.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="9" fill="none" stroke="#000" '
                f'stroke-width="1.5"/><text class="ref" x="{px(x):.1f}" y="{ty:.1f}" '
                f'text-anchor="{anchor}">chosen: {esc(layout)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def nice_ticks(vmax: float, steps: int = 5) -> list[float]:
    """0 to just above vmax in about `steps` round steps (1, 2, 2.5 or 5 x 10^k)."""
    raw = vmax / steps
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(vmax / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def esc(value: object) -> str:
    """Escape text for HTML and SVG, in content and in quoted attributes."""
    return html.escape(str(value), quote=True)


def count(value: int | None) -> str:
    """1048576 -> 1,048,576; None -> -."""
    return "-" if value is None else f"{value:,}"


def num(value: float | None, digits: int) -> str:
    """Fixed decimals with thousands separators; None -> -."""
    return "-" if value is None else f"{value:,.{digits}f}"


def usd(value: float | None) -> str:
    """$1.277, $2.00, $20.60: cents always, a third decimal where the figure has one."""
    if value is None:
        return "-"
    text = f"{value:,.3f}" if value < 10 else f"{value:,.2f}"
    return "$" + (text[:-1] if value < 10 and text.endswith("0") else text)


def tokens(n: int) -> str:
    """1048576 -> 1M, 393216 -> 384K (binary, as vLLM reads them), else the plain number."""
    if n % (1 << 20) == 0:
        return f"{n >> 20}M"
    if n % 1024 == 0:
        return f"{n >> 10}K"
    return f"{n:,}"


def _svg_open(width: int, height: int, desc: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(desc)} The table '
        'below the chart has the same figures.">'
    )


def _dash(dash: str) -> str:
    return f' stroke-dasharray="{dash}"' if dash else ""


def _tick(value: float) -> str:
    return f"{value:,.10g}"
