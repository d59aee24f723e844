"""HTML reports: structure, values equal to the JSON output, escaping, and a headless screenshot."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from deploy_kit import __version__
from deploy_kit.catalog import Catalog
from deploy_kit.cli import views
from deploy_kit.planner import capacity
from deploy_kit.planner import search as planner
from deploy_kit.planner.capacity import CapacityRow
from deploy_kit.report import html as report
from deploy_kit.spec import Knobs, Plan

SUBSET_HW = ("8xH200", "8xB200", "4xMI355X", "1xH100", "2xGH200")


# --- a small DOM from the stdlib parser -----------------------------------------------------------


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text_parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.text_parts) + "".join(c.text for c in self.children)

    def iter(self, tag: str | None = None) -> list[Node]:
        out = [self] if tag in (None, self.tag) else []
        for c in self.children:
            out.extend(c.iter(tag))
        return out

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.iter(tag)
            if all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


VOID = {"meta", "br", "link", "img", "input", "hr", "circle", "line", "rect", "polyline"}


class Dom(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root
        self.doctype: str | None = None
        self.feed(text)
        self.close()

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.cur.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.cur))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.cur.tag == tag, f"</{tag}> closes <{self.cur.tag}>"
        assert self.cur.parent is not None
        self.cur = self.cur.parent

    def handle_data(self, data: str) -> None:
        self.cur.text_parts.append(data)


def parse(text: str) -> Dom:
    dom = Dom(text)
    assert dom.cur is dom.root, f"unclosed <{dom.cur.tag}>"
    return dom


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flash_plan(catalog: Catalog) -> Plan:
    return planner.plan(
        catalog, "deepseek-v4-flash", catalog.hardware("8xB200"), Knobs(context=1 << 20)
    )


@pytest.fixture(scope="module")
def subset_rows(catalog: Catalog) -> list[CapacityRow]:
    hws = [catalog.hardware(h) for h in SUBSET_HW]
    return capacity.rows(
        catalog,
        capacity.DEFAULT_MODELS,
        hws,
        capacity.DEFAULT_WEIGHTS,
        capacity.DEFAULT_CONTEXT,
        Knobs(),
    )


def _at(data: Any, path: str) -> Any:
    for key in path.split("."):
        data = data[key]
    return data


def _self_contained(text: str) -> None:
    """No external asset: nothing to fetch, no script, links only to anchors in the page."""
    dom = parse(text)
    for node in dom.root.iter():
        for attr in ("src", "srcset", "action", "formaction", "poster", "data"):
            assert attr not in node.attrs, f"<{node.tag} {attr}=...>"
        if node.tag == "a":
            assert node.attrs.get("href", "#").startswith("#"), node.attrs
        assert node.tag not in ("script", "link", "iframe", "object", "embed", "img")
    assert "url(" not in text and "@import" not in text


# --- plan -------------------------------------------------------------------------------------


def test_plan_html_structure(flash_plan: Plan) -> None:
    text = report.plan_html(flash_plan)
    dom = parse(text)
    assert dom.doctype is not None and dom.doctype.lower() == "doctype html"
    assert dom.root.find_all("html")[0].attrs["lang"] == "en"
    gen = dom.root.find_all("meta", name="generator")
    assert [m.attrs["content"] for m in gen] == [f"deploy-kit {__version__}"]
    assert len(dom.root.find_all("meta", charset="utf-8")) == 1
    assert len(dom.root.find_all("h1")) == 1
    figures = dom.root.find_all("figure")
    assert [f.attrs["id"] for f in figures] == ["fig-memory", "fig-concurrency", "fig-pareto"]
    for fig in figures:
        svg = fig.find_all("svg", role="img")
        assert len(svg) == 1 and svg[0].attrs["aria-label"], "chart without a text alternative"
        assert len(svg[0].iter("rect") + svg[0].iter("polyline")) > 0, "empty chart"
        tables = [t for d in fig.find_all("div") for t in d.iter("table")]
        assert tables, f"{fig.attrs['id']}: no table fallback"
        assert tables[0].iter("caption") and tables[0].iter("th")
    headings = [h.text for h in dom.root.iter("h2")]
    assert any(h.startswith("Rejected layouts") for h in headings)
    assert any(h.startswith("Alternatives") for h in headings)
    _self_contained(text)


def test_plan_html_values_equal_json(flash_plan: Plan) -> None:
    data = json.loads(views.format_plan(flash_plan, "json"))
    dom = parse(report.plan_html(flash_plan))
    fields = dom.root.find_all("dd")
    assert {f.attrs["data-field"] for f in fields} == {p for _, p, _ in report.PLAN_FACTS}
    for dd in fields:
        assert json.loads(dd.attrs["data-value"]) == _at(data, dd.attrs["data-field"])
    shown = {dd.attrs["data-field"]: dd.text for dd in fields}
    assert (
        shown["capacity.max_concurrency_total"]
        == f"{data['capacity']['max_concurrency_total']:.2f}"
    )
    assert shown["max_model_len"] == f"{data['max_model_len']:,}"
    assert shown["performance.cost_per_1m_output_tokens"] == (
        f"${data['performance']['cost_per_1m_output_tokens']:g}"
    )
    mem = data["memory"]["per_gpu"]
    cells = dom.root.find_all("figure", id="fig-memory")[0].find_all("td")
    assert cells and all(
        json.loads(td.attrs["data-value"]) == mem[td.attrs["data-field"]] for td in cells
    )
    rejected = [tr for t in dom.root.iter("table") for tr in t.iter("tr")]
    for r in data["rejected"]:
        assert any(r["reason"] in tr.text for tr in rejected), r["reason"]


@pytest.mark.parametrize(
    ("model", "hw", "context"),
    [
        ("deepseek-v4-flash", "8xB200", 1 << 20),
        ("deepseek-v4-flash", "8xH200", None),
        ("deepseek-v4-flash", "2xGH200", None),  # pipeline parallel: per-stage KV groups
        ("deepseek-v4-pro", "2x8xH200", 262144),  # two nodes
        ("deepseek-v4-flash", "1xB300", 131072),
    ],
)
def test_curve_passes_through_the_plan(
    catalog: Catalog, model: str, hw: str, context: int | None
) -> None:
    p = planner.plan(catalog, model, catalog.hardware(hw), Knobs(context=context))
    curve = dict(report.concurrency_curve(p))
    assert curve[p.max_model_len] == p.capacity.max_concurrency_total
    xs = sorted(curve)
    assert xs[0] == report.CURVE_CONTEXTS[0] or xs[0] == p.max_model_len
    # Longer requests never fit more of them into the same memory.
    assert all(curve[a] >= curve[b] for a, b in itertools.pairwise(xs))
    assert max(xs) <= p.capacity.max_model_len_fit


def test_plan_html_escapes_every_string(catalog: Catalog) -> None:
    evil = '<script>alert("x")</script>&"\''
    hw = catalog.hardware("8xH200").model_copy(update={"name": evil})
    p = planner.plan(catalog, "deepseek-v4-flash", hw, Knobs())
    p = p.model_copy(update={"warnings": [evil], "rationale": [evil]})
    text = report.plan_html(p)
    assert "<script" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&quot;&#x27;" in text
    dom = parse(text)
    assert evil in dom.root.find_all("title")[0].text
    _self_contained(text)


def test_plan_html_deterministic(catalog: Catalog, flash_plan: Plan) -> None:
    again = planner.plan(
        catalog, "deepseek-v4-flash", catalog.hardware("8xB200"), Knobs(context=1 << 20)
    )
    assert report.plan_html(flash_plan) == report.plan_html(again)


# --- capacity ---------------------------------------------------------------------------------


def test_capacity_html_structure(subset_rows: list[CapacityRow]) -> None:
    text = report.capacity_html(subset_rows)
    dom = parse(text)
    assert [m.attrs["content"] for m in dom.root.find_all("meta", name="generator")] == [
        f"deploy-kit {__version__}"
    ]
    matrix = dom.root.find_all("table", **{"class": "matrix"})
    assert len(matrix) == 1
    assert len(matrix[0].find_all("tbody")[0].iter("tr")) == len(SUBSET_HW)
    figures = dom.root.find_all("figure")
    kinds = {re.sub(r"-\d+$", "", f.attrs["id"]) for f in figures}
    assert kinds == {"fig-cost", "fig-memory", "fig-concurrency"}
    for fig in figures:
        svg = fig.find_all("svg", role="img")
        assert len(svg) == 1 and svg[0].attrs["aria-label"]
        assert fig.find_all("table"), f"{fig.attrs['id']}: no table fallback"
    _self_contained(text)


def test_capacity_html_values_equal_json(subset_rows: list[CapacityRow]) -> None:
    data = json.loads(views.format_capacity(subset_rows, "json"))
    dom = parse(report.capacity_html(subset_rows))
    cells = [td for td in dom.root.iter("td") if "data-hardware" in td.attrs]
    assert len(cells) == len(data)
    by_key = {(r["model"], r["weights"], r["hardware"]): r for r in data}
    for td in cells:
        row = by_key[(td.attrs["data-model"], td.attrs["data-weights"], td.attrs["data-hardware"])]
        assert json.loads(td.attrs["data-fits"]) == row["fits"]
        spans = {s.attrs["data-field"]: s for s in td.iter("span") if "data-field" in s.attrs}
        if not row["fits"]:
            assert not spans
            continue
        sla_fields = (
            {"sla_met", "goodput_tokens_per_s_per_gpu", "cost_per_1m_at_goodput"}
            if row["sla_met"]
            else {"sla_met"}
        )
        assert set(spans) == {
            "strategy",
            "max_context",
            "max_concurrency",
            "tokens_per_s",
            "cost_per_1m_output_tokens",
            *sla_fields,
        }
        for name, span in spans.items():
            assert json.loads(span.attrs["data-value"]) == row[name], name
        assert spans["strategy"].text == row["strategy"]
        assert spans["max_context"].text == f"{row['max_context']:,}"
        assert spans["max_concurrency"].text == f"{row['max_concurrency']:,.2f}"
    for th in dom.root.iter("th"):
        if "data-model" in th.attrs:
            api = th.find_all("span", data_field="api_price_per_1m_output_tokens")[0]
            prices = {
                r["api_price_per_1m_output_tokens"]
                for r in data
                if (r["model"], r["weights"]) == (th.attrs["data-model"], th.attrs["data-weights"])
            }
            assert prices == {json.loads(api.attrs["data-value"])}
    # Every cell that does not fit is listed with its reason.
    reasons = " ".join(
        tr.text for tr in dom.root.iter("tr") if tr.attrs.get("id", "").startswith("nofit-")
    )
    for r in data:
        if not r["fits"]:
            assert r["reason"] in reasons


def test_capacity_memory_bars_equal_plan_json(
    catalog: Catalog, subset_rows: list[CapacityRow]
) -> None:
    plans = report.plans_for(subset_rows)
    fitting = [r for r in subset_rows if r.fits]
    assert len(plans) == len(fitting)
    text = report.capacity_html(subset_rows, plans)
    assert text == report.capacity_html(subset_rows)  # re-planning gives the same plans
    dom = parse(text)
    fig = dom.root.find_all("figure", id="fig-memory-0")[0]
    rows = fig.find_all("tbody")[0].iter("tr")
    group = [r for r in fitting if (r.model, r.weights) == ("deepseek-v4-flash", "native")]
    assert [tr.iter("th")[0].text for tr in rows] == [r.hardware for r in group]
    for tr, r in zip(rows, group, strict=True):
        mem = json.loads(views.format_plan(plans[(r.model, r.weights, r.hardware)], "json"))
        for td in tr.iter("td"):
            want = mem["memory"]["per_gpu"][td.attrs["data-field"]]
            assert json.loads(td.attrs["data-value"]) == want


def test_capacity_html_escapes_and_handles_empty() -> None:
    evil = '<img src=x onerror=alert(1)> & "quoted"'
    row = CapacityRow(
        model=evil,
        weights="native",
        checkpoint=None,
        hardware=evil,
        gpus=1,
        fits=False,
        strategy=None,
        context=131072,
        max_context=None,
        max_concurrency=None,
        tokens_per_s=None,
        tokens_per_s_per_gpu=None,
        cost_per_1m_output_tokens=None,
        api_price_per_1m_output_tokens=0.28,
        reason=evil,
    )
    text = report.capacity_html([row], {})
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    _self_contained(text)
    empty = report.capacity_html([])
    assert parse(empty).root.find_all("meta", name="generator")


# --- CLI (after the lead wires `-o html`) -----------------------------------------------------


def _html_wired() -> bool:
    from deploy_kit.cli import main as cli

    for name in ("plan", "capacity"):
        cmd = cli.cli.commands.get(name)
        opts = [p for p in cmd.params if p.name == "output"] if cmd else []
        choices = getattr(opts[0].type, "choices", ()) if opts else ()
        if "html" not in choices:
            return False
    return True


def test_cli_writes_html(tmp_path: Path, catalog: Catalog) -> None:
    if not _html_wired():
        pytest.skip("`-o html` is not among the choices of `plan`/`capacity` yet (cli.py)")
    from deploy_kit.cli import main as cli

    out = tmp_path / "plan.html"
    args = ["plan", "-m", "deepseek-v4-flash", "-H", "8xB200", "--context", "1M"]
    assert cli.main([*args, "-o", "html", "--out", str(out), "-q"]) == 0
    p = planner.plan(
        catalog, "deepseek-v4-flash", catalog.hardware("8xB200"), Knobs(context=1 << 20)
    )
    assert out.read_text(encoding="utf-8") == report.plan_html(p)
    cap = tmp_path / "cap.html"
    args = ["capacity", "-m", "deepseek-v4-flash", "-H", "8xB200", "-H", "1xH100"]
    assert cli.main([*args, "-o", "html", "--out", str(cap), "-q"]) == 0
    dom = parse(cap.read_text(encoding="utf-8"))
    assert len([td for td in dom.root.iter("td") if "data-hardware" in td.attrs]) == 6


# --- screenshot in headless Chromium ----------------------------------------------------------


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _screenshot(browser: str, page: Path, png: Path, width: int, height: int) -> None:
    argv = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-extensions",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={page.parent / 'profile'}",
        f"--window-size={width},{height}",
        f"--screenshot={png}",
        page.as_uri(),
    ]
    env = {**os.environ, "HOME": str(page.parent)}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert png.is_file(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr}"


def read_png(path: Path) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows): 8-bit RGB/RGBA, non-interlaced, stdlib only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    high = int.from_bytes(b"\x80" * stride)
    low = int.from_bytes(b"\x7f" * stride)
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # bytewise add without carries, on big integers (SWAR): fast
            a, b = int.from_bytes(line), int.from_bytes(prev)
            line = bytearray((((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(stride))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(bpp):  # no left neighbour: the predictor is the byte above
                line[i] = (line[i] + prev[i]) & 0xFF
            for i in range(bpp, stride):
                a, b, c = line[i - bpp], prev[i], prev[i - bpp]
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - c - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


_DARK = bytes(1 if i < 235 else 0 for i in range(256))


def _inked(rows: list[bytes], bpp: int, box: tuple[int, int, int, int]) -> tuple[int, int]:
    """(non-background pixels, saturated pixels) inside box = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    ink = color = 0
    for row in rows[y0:y1]:
        seg = row[x0 * bpp : x1 * bpp]
        rs, gs, bs = seg[0::bpp], seg[1::bpp], seg[2::bpp]
        dark = (
            int.from_bytes(rs.translate(_DARK))
            | int.from_bytes(gs.translate(_DARK))
            | int.from_bytes(bs.translate(_DARK))
        )
        if not dark:
            continue  # a blank line (most of them)
        ink += dark.bit_count()
        if rs == gs == bs:
            continue  # only greys: text, grid lines
        color += sum(1 for px in zip(rs, gs, bs, strict=True) if max(px) - min(px) > 50)
    return ink, color


FIGURE_RE = re.compile(r'<figure id="([^"]+)" class="chart">.*?</figure>', re.S)
VIEWBOX_RE = re.compile(r'<svg [^>]*viewBox="0 0 (\d+) (\d+)"')


def test_screenshot_charts_render(
    tmp_path: Path, flash_plan: Plan, subset_rows: list[CapacityRow]
) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "headless Chromium is not installed (Debian: apt-get install -y chromium); "
            ".ci/run installs it"
        )
    plan_page = report.plan_html(flash_plan)
    cap_rows = [
        r
        for r in subset_rows
        if r.hardware in ("8xH200", "8xB200", "1xH100")
        and r.weights == "native"
        and r.model == "deepseek-v4-flash"
    ]
    cap_page = report.capacity_html(cap_rows)
    # 1. The real page renders: not blank, with coloured chart ink.
    (tmp_path / "plan.html").write_text(plan_page, encoding="utf-8")
    _screenshot(browser, tmp_path / "plan.html", tmp_path / "plan.png", 1100, 1300)
    w, h, bpp, rows = read_png(tmp_path / "plan.png")
    ink, color = _inked(rows, bpp, (0, 0, w, h))
    assert ink > 20_000 and color > 5_000, (ink, color)
    # 2. Every chart on its own, at a known place: its plot has coloured marks. Legends and
    # tables are hidden so only the SVG can supply them; the last cell is an empty control.
    style = re.search(r"<style>(.*?)</style>", plan_page, re.S)
    assert style is not None
    found = [*FIGURE_RE.finditer(plan_page), *FIGURE_RE.finditer(cap_page)]
    figures = [m.group(1) for m in found]
    blocks = [m.group(0) for m in found]
    # The plan page: memory, concurrency and (the planner now always returns a front) the
    # Pareto chart; the capacity page: cost, memory, concurrency.
    assert figures == [
        "fig-memory",
        "fig-concurrency",
        "fig-pareto",
        "fig-cost-0",
        "fig-memory-0",
        "fig-concurrency-0",
    ], figures
    cells, boxes, top, width = [], [], 0, 0
    for block in [*blocks, '<figure class="chart"><svg viewBox="0 0 400 100"></svg></figure>']:
        m = VIEWBOX_RE.search(block)
        assert m is not None
        cw, ch = int(m.group(1)), int(m.group(2))
        cells.append(
            f'<div style="position:absolute;left:0;top:{top}px;width:{cw}px;height:{ch}px">'
            f"{block}</div>"
        )
        boxes.append((0, top, cw, top + ch))
        top, width = top + ch + 10, max(width, cw)
    grid = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{style.group(1)}"
        "body,main{margin:0;padding:0}figure.chart{margin:0}"
        ".legend,.fallback,figcaption{display:none}</style></head><body>"
        f"{''.join(cells)}</body></html>"
    )
    (tmp_path / "grid.html").write_text(grid, encoding="utf-8")
    _screenshot(browser, tmp_path / "grid.html", tmp_path / "grid.png", width, top)
    w, h, bpp, rows = read_png(tmp_path / "grid.png")
    assert (w, h) == (width, top)
    counts = [_inked(rows, bpp, box) for box in boxes]
    for name, (ink, color) in zip([*figures, "control"], counts, strict=True):
        if name == "control":
            assert color == 0, "the empty control cell has coloured pixels: check is broken"
            continue
        assert ink > 2_000 and color > 500, f"{name}: chart looks empty ({ink=}, {color=})"
    if os.environ.get("REPORT_SCREENSHOT_DIR"):  # for a person to look at
        for name in ("plan.png", "grid.png"):
            shutil.copy(tmp_path / name, Path(os.environ["REPORT_SCREENSHOT_DIR"]) / name)


def test_plan_html_pareto_marks_the_chosen_point_and_the_misses(catalog: Catalog) -> None:
    from deploy_kit.planner import search
    from deploy_kit.spec import Knobs

    k = Knobs(isl=4000, osl=1000, ttft_ms="2s", tpot_ms="50ms")
    p = search.plan(catalog, "deepseek-v4-flash", catalog.hardware("8xH200"), k)
    dom = parse(report.plan_html(p))
    fig = dom.root.find_all("figure", id="fig-pareto")[0]
    svg = fig.find_all("svg", role="img")[0]
    circles = svg.iter("circle")
    rings = [c for c in circles if c.attrs.get("r") == "9"]
    assert len(rings) == 1  # the chosen point, ringed
    hollow = [c for c in circles if c.attrs.get("fill") == "#fff"]
    assert len(hollow) == sum(not pt.meets_sla for pt in p.pareto) > 0
    rows = [tr for t in fig.iter("table") for tr in t.iter("tr")][1:]
    assert len(rows) == len(p.pareto)
    chosen = [tr for tr in rows if "(chosen)" in "".join(td.text for td in tr.iter("td"))]
    assert len(chosen) == 1
    missed = next(pt for pt in p.pareto if not pt.meets_sla)
    assert any(missed.misses[0] in "".join(td.text for td in tr.iter("td")) for tr in rows)
    facts = {dd.attrs["data-field"]: dd.text for dd in dom.root.find_all("dd")}
    assert facts["performance.sla_met"] == "yes"
