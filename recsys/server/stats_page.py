"""The /stats page: the click-through report as a table and two plots in inline SVG (CTR per variant
over time, CTR by position), with no script at all. The page is built as an element tree
(``xml.etree.ElementTree``), which escapes every text and attribute, never by joining strings; its
one style sheet is allowed by its hash in the Content-Security-Policy."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22")
STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.8rem; }
table { border-collapse: collapse; } th, td { padding: .25rem .6rem; text-align: right; border-bottom: 1px solid #ddd; }
th:first-child, td:first-child { text-align: left; } .note { color: #666; }
svg { display: block; margin: .5rem 0; } svg text { font: 12px system-ui, sans-serif; fill: #333; }
.axis { stroke: #999; stroke-width: 1; } .grid { stroke: #eee; stroke-width: 1; }
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 150, 16, 36


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _node(parent: ET.Element, tag: str, text: str | None = None, **attributes: Any) -> ET.Element:
    node = ET.SubElement(parent, tag, {name.rstrip("_").replace("_", "-"): str(value)
                                       for name, value in attributes.items()})
    if text is not None:
        node.text = text
    return node


def stats_page(data: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(the page's HTML, its headers) for a report of ``recsys.feedback.report``."""
    html = ET.Element("html", {"lang": "en"})
    head = _node(html, "head")
    _node(head, "meta", charset="utf-8")
    _node(head, "title", "recsys: clicks per variant")
    _node(head, "style", STYLE)
    body = _node(html, "body")
    _node(body, "h1", "Related block: clicks per variant")
    _node(body, "p", f"From {data['from'][:16].replace('T', ' ')} to {data['to'][:16].replace('T', ' ')} UTC. "
                     f"CTR is clicks per impression (one click counts per impression); intervals are "
                     f"{round(100 * data['confidence'])} % Wilson intervals; each variant is tested against "
                     f"{data['control']} (two-proportion z-test).", class_="note")
    colours = {row["variant"]: COLOURS[n % len(COLOURS)] for n, row in enumerate(data["variants"])}
    _table(body, data)
    _node(body, "h2", f"CTR per variant, by {data['bucket']}")
    _over_time(body, data, colours)
    _node(body, "h2", "CTR by position")
    _by_position(body, data, colours)
    page = "<!doctype html>\n" + ET.tostring(html, encoding="unicode", method="html")
    return page, dict(HEADERS)


def _table(body: ET.Element, data: dict[str, Any]) -> None:
    table = _node(body, "table", id="variants")
    header = _node(_node(table, "thead"), "tr")
    for title in ("variant", "impressions", "clicks", "CTR", "95 % interval", "vs control", "p-value", "rank"):
        _node(header, "th", title)
    rank = {name: n for n, name in enumerate(data["ranking"], start=1)}
    rows = _node(table, "tbody")
    for row in data["variants"]:
        line = _node(rows, "tr")
        test = row["vs_control"]
        cells = (row["variant"], f"{row['impressions']:,}", f"{row['clicks']:,}", _pct(row["ctr"]),
                 "-" if row["ctr_low"] is None else f"{_pct(row['ctr_low'])} to {_pct(row['ctr_high'])}",
                 "" if test is None else f"{100 * test['difference']:+.2f} pt",
                 "" if test is None else f"{test['p_value']:.3g}", str(rank.get(row["variant"], "-")))
        for cell in cells:
            _node(line, "td", cell)


def _frame(body: ET.Element, label: str, top: float) -> ET.Element:
    """An SVG of the plot size with its y axis from 0 to ``top`` (a share), grid lines and labels."""
    svg = _node(body, "svg", xmlns="http://www.w3.org/2000/svg", width=WIDTH, height=HEIGHT,
                viewBox=f"0 0 {WIDTH} {HEIGHT}", role="img", aria_label=label)
    _node(svg, "title", label)
    for n in range(5):
        value = top * n / 4
        y = _y(value, top)
        _node(svg, "line", x1=LEFT, x2=WIDTH - RIGHT, y1=f"{y:.1f}", y2=f"{y:.1f}", class_="grid")
        _node(svg, "text", _pct(value, 1), x=LEFT - 6, y=f"{y + 4:.1f}", text_anchor="end")
    _node(svg, "line", x1=LEFT, x2=LEFT, y1=TOP, y2=HEIGHT - BOTTOM, class_="axis")
    _node(svg, "line", x1=LEFT, x2=WIDTH - RIGHT, y1=HEIGHT - BOTTOM, y2=HEIGHT - BOTTOM, class_="axis")
    return svg


def _y(value: float, top: float) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (value / top if top else 0)


def _top(values: list[float | None]) -> float:
    """A round upper bound for the y axis."""
    high = max([v for v in values if v is not None] or [0.0])
    for step in (0.01, 0.02, 0.04, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0):  # quarters in round numbers
        if high <= step:
            return step
    return 1.0


def _legend(svg: ET.Element, colours: dict[str, str]) -> None:
    for n, (variant, colour) in enumerate(colours.items()):
        y = TOP + 10 + 20 * n
        _node(svg, "rect", x=WIDTH - RIGHT + 16, y=y - 9, width=12, height=12, fill=colour)
        _node(svg, "text", variant, x=WIDTH - RIGHT + 34, y=y + 2)


def _over_time(body: ET.Element, data: dict[str, Any], colours: dict[str, str]) -> None:
    points = [p for p in data["over_time"] if p["impressions"]]
    svg = _frame(body, "CTR per variant over time", _top([p["ctr_high"] for p in points]))
    svg.set("id", "ctr-over-time")
    top = _top([p["ctr_high"] for p in points])
    start = datetime.fromisoformat(data["from"]).timestamp()
    span = max(1.0, datetime.fromisoformat(data["to"]).timestamp() - start)

    def x(iso: str) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * min(1.0, max(0.0, (datetime.fromisoformat(iso).timestamp() - start) / span))

    for n in range(5):
        at = start + span * n / 4
        label = datetime.fromtimestamp(at, timezone.utc).strftime("%m-%d %H:%M" if data["bucket"] == "hour" else "%Y-%m-%d")
        _node(svg, "text", label, x=f"{LEFT + (WIDTH - LEFT - RIGHT) * n / 4:.1f}", y=HEIGHT - BOTTOM + 18,
              text_anchor="middle")
    for variant, colour in colours.items():
        mine = [p for p in points if p["variant"] == variant]
        if not mine:
            continue
        band = [f"{x(p['start']):.1f},{_y(p['ctr_high'], top):.1f}" for p in mine]
        band += [f"{x(p['start']):.1f},{_y(p['ctr_low'], top):.1f}" for p in reversed(mine)]
        _node(svg, "polygon", points=" ".join(band), fill=colour, fill_opacity="0.12", stroke="none")
        line = " ".join(f"{x(p['start']):.1f},{_y(p['ctr'], top):.1f}" for p in mine)
        _node(svg, "polyline", points=line, fill="none", stroke=colour, stroke_width=2, data_variant=variant)
        for p in mine:
            _node(svg, "circle", cx=f"{x(p['start']):.1f}", cy=f"{_y(p['ctr'], top):.1f}", r=2.5, fill=colour)
    _legend(svg, colours)


def _by_position(body: ET.Element, data: dict[str, Any], colours: dict[str, str]) -> None:
    rates = {(row["variant"], p["position"]): p for row in data["variants"] for p in row["by_position"]}
    positions = sorted({position for _, position in rates})
    top = _top([p["ctr_high"] for p in rates.values()])
    svg = _frame(body, "CTR by position", top)
    svg.set("id", "ctr-by-position")
    if positions:
        slot = (WIDTH - LEFT - RIGHT) / len(positions)
        bar = slot * 0.8 / max(1, len(colours))
        for n, position in enumerate(positions):
            _node(svg, "text", str(position), x=f"{LEFT + slot * (n + 0.5):.1f}", y=HEIGHT - BOTTOM + 18,
                  text_anchor="middle")
            for m, (variant, colour) in enumerate(colours.items()):
                rate = rates.get((variant, position))
                if rate is None or rate["ctr"] is None:
                    continue
                left = LEFT + slot * (n + 0.1) + bar * m
                _node(svg, "rect", x=f"{left:.1f}", y=f"{_y(rate['ctr'], top):.1f}", width=f"{bar * 0.9:.1f}",
                      height=f"{_y(0, top) - _y(rate['ctr'], top):.1f}", fill=colour, data_variant=variant,
                      data_position=position)
                middle = left + bar * 0.45
                _node(svg, "line", x1=f"{middle:.1f}", x2=f"{middle:.1f}", y1=f"{_y(rate['ctr_low'], top):.1f}",
                      y2=f"{_y(rate['ctr_high'], top):.1f}", stroke="#333", stroke_width=1)
    _node(svg, "text", "position in the block", x=f"{LEFT + (WIDTH - LEFT - RIGHT) / 2:.1f}", y=HEIGHT - 4,
          text_anchor="middle")
    _legend(svg, colours)
