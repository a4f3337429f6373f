"""Charts beside the statistics tables: SVG drawn on the server by matplotlib with Noto Sans CJK.

A table's `chart` (care.statistics.Chart) says how it is drawn: bars, horizontal bars or a line,
one series per value column, the total row left out. Every letter is written as a path
(`svg.fonttype: path`), so the browser and the printer need no font and nothing is loaded from
the internet; the chart is put into the page as inline SVG (its ids prefixed, so several charts
live in one page).

matplotlib is imported on the first chart only: the bot and the jobs never import this module,
and `dolbom serve` imports it in the background a little after start (`warm`), so the first
statistics page does not pay for it. Drawing is CPU work, so it runs in one worker thread, one
chart at a time (matplotlib's font objects are not thread-safe) with `matplotlib.figure.Figure`
and the SVG canvas, never pyplot. Charts already drawn are kept (the same figures give the same
SVG), so a page seen again is quick.

A chart takes 0.1–0.2 s to draw, a page of them 1–3 s: the statistics page does not wait for
them (`draw(..., wait=False)`). Charts not drawn yet leave a placeholder holding a one-off token;
the page's script fetches `/statistics/charts/<token>` (answered when the drawing is done, only to
staff who may see the district the figures are of) and puts the SVG in. The monthly report, a
print page, waits for all of them.

Without Noto Sans CJK (a machine without Debian's fonts-noto-cjk) the page still works: no chart,
a note saying why, every table as before.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from dolbom.i18n import N_, gettext

if TYPE_CHECKING:
    from care.statistics import Table

log = logging.getLogger(__name__)

# Where Debian's fonts-noto-cjk puts the font, if matplotlib's font list does not know it yet.
FONT_FILES = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",)
NO_FONT = N_(
    "The charts cannot be drawn: the server lacks the Korean font (Noto Sans CJK). The tables show every figure."
)
COLOURS = ("#2f6fb0", "#e08a2c", "#4b9a5b", "#b04a6f", "#7a6bb8", "#8c8c8c", "#c9b037", "#3aa6b9", "#8a5a3c", "#d46fb5")
_WIDTH = 5.0  # inches; the page scales the SVG to its box
_LABEL_CHARS = 22  # longer bar names are cut with "…" (the table beside has them whole)
_KEPT = 256  # charts kept drawn

_lock = threading.Lock()
_drawn: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="charts")
_later: OrderedDict[str, tuple[int | None, Future[str]]] = OrderedDict()  # token -> (district, drawing)
_LATER_KEPT = 512


@dataclass(frozen=True)
class Spec:
    """Everything one chart needs, in plain values (built on the event loop, drawn in a thread)."""

    key: str
    title: str
    kind: str
    labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[float, ...]], ...]  # (name, values), one per value column
    unit: str = "number"  # the first value column's kind: number | share | won | hours
    stacked: bool = False


@dataclass
class Charts:
    """The SVG of each table's chart, by table key; note: why there are none, when there are none."""

    svg: dict[str, Markup] = field(default_factory=dict)
    later: dict[str, str] = field(default_factory=dict)  # table key -> token of a chart still being drawn
    note: str | None = None


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def spec_of(table: Table, locale: str | None = None) -> Spec | None:
    """Return what the table's chart draws (None: the table has no chart, or no row to draw)."""
    chart = table.chart
    if chart is None:
        return None
    rows = [r for r in table.rows if r.get("code") != "total"]
    if not rows:
        return None
    columns = {c.key: c for c in table.columns}
    parts = (chart.label,) if isinstance(chart.label, str) else chart.label
    if chart.values:
        wanted = [columns[k] for k in chart.values if k in columns]
    else:
        wanted = [c for c in table.columns if c.kind != "text" and c.key not in parts + chart.skip]
    if not wanted:
        return None
    names = [_short(" · ".join(str(r.get(k) or "") for k in parts if r.get(k))) for r in rows]
    if chart.by_row:  # one series a row, one point a column
        labels = [gettext(c.title, locale) for c in wanted]
        series = [(name, tuple(_number(r.get(c.key)) for c in wanted)) for name, r in zip(names, rows, strict=True)]
    else:
        labels = names
        series = [(gettext(c.title, locale), tuple(_number(r.get(c.key)) for r in rows)) for c in wanted]
    return Spec(
        key=re.sub(r"[^a-z0-9_-]", "-", table.key.lower()),
        title=gettext(table.title, locale),
        kind=chart.kind,
        labels=tuple(labels),
        series=tuple(series),
        unit=wanted[0].kind,
        stacked=chart.stacked,
    )


@lru_cache(maxsize=1)
def font_family() -> str | None:
    """Return the family name of Noto Sans CJK as matplotlib knows it (None: the font is not here)."""
    try:
        from matplotlib import font_manager
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    found = sorted(
        (f for f in font_manager.fontManager.ttflist if f.name.startswith("Noto Sans CJK") and f.weight == 400),
        key=lambda f: (f.name != "Noto Sans CJK KR", f.name),
    )
    if found:
        return str(found[0].name)
    for path in FONT_FILES:
        try:
            font_manager.fontManager.addfont(path)
            return str(font_manager.FontProperties(fname=path).get_name())
        except (OSError, RuntimeError):
            continue
    return None


def _axis_text(unit: str) -> Any:
    def fmt(value: float, _pos: Any = None) -> str:
        if unit == "share":
            return f"{value:g}%"
        if unit == "hours":
            return f"{value:g}"
        return f"{value:,.0f}"

    return fmt


def _value_text(unit: str, value: float) -> str:
    if unit == "share":
        return f"{value:.1f}%"
    if unit == "hours":
        return f"{value:g}"
    if unit == "won":
        return f"{value:,.0f}원"
    return f"{value:,.0f}"


def _plot(spec: Spec, family: str) -> str:
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    n, count = len(spec.labels), len(spec.series)
    if spec.kind == "barh":
        per_row = 0.3 if spec.stacked or count == 1 else 0.22 * count + 0.08
        height = max(1.8, 0.9 + per_row * n)
    else:
        height = 2.6
    rc: dict[Any, Any] = {
        "font.family": [family],
        "font.size": 10,
        "svg.fonttype": "path",  # letters as paths: no font needed where it is shown
        "svg.hashsalt": spec.key,  # the same chart gives the same SVG
        "axes.unicode_minus": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(_WIDTH, height), layout="constrained")
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        positions = [float(p) for p in range(n)]
        fmt = FuncFormatter(_axis_text(spec.unit))
        ticks = MaxNLocator(nbins=6, integer=spec.unit in ("number", "won"), min_n_ticks=2)
        if spec.kind == "line":
            for i, (name, values) in enumerate(spec.series):
                ax.plot(positions, values, marker="o", color=COLOURS[i % len(COLOURS)], label=name)
            ax.set_xticks(positions, spec.labels, rotation=45 if n > 6 else 0, ha="right" if n > 6 else "center")
            ax.yaxis.set_major_formatter(fmt)
            ax.yaxis.set_major_locator(ticks)
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        else:
            horizontal = spec.kind == "barh"
            thick = 0.7 if spec.stacked or count == 1 else 0.8 / count
            base = [0.0] * n
            for i, (name, values) in enumerate(spec.series):
                if spec.stacked:
                    at = positions
                else:
                    at = [p - 0.4 + thick * (i + 0.5) for p in positions]
                colour = COLOURS[i % len(COLOURS)]
                if horizontal:
                    bars = ax.barh(at, values, height=thick, left=base, color=colour, label=name)
                else:
                    bars = ax.bar(at, values, width=thick, bottom=base, color=colour, label=name)
                if spec.stacked:
                    base = [b + v for b, v in zip(base, values, strict=True)]
                else:
                    texts = [_value_text(spec.unit, v) if v else "" for v in values]
                    ax.bar_label(bars, labels=texts, padding=2, fontsize=8.5)
            if horizontal:
                ax.set_yticks(positions, spec.labels)
                ax.invert_yaxis()  # the first row on top, as in the table
                ax.xaxis.set_major_formatter(fmt)
                ax.xaxis.set_major_locator(ticks)
                ax.margins(x=0.12)
                ax.grid(axis="x", color="#dddddd", linewidth=0.6)
            else:
                tilt = n > 5 or max((len(label) for label in spec.labels), default=0) > 8
                ax.set_xticks(positions, spec.labels, rotation=30 if tilt else 0, ha="right" if tilt else "center")
                ax.yaxis.set_major_formatter(fmt)
                ax.yaxis.set_major_locator(ticks)
                ax.margins(y=0.12)
                ax.grid(axis="y", color="#dddddd", linewidth=0.6)
            ax.set_axisbelow(True)
        if count > 1:  # above the plot, in as many rows as it takes (constrained layout makes room)
            fig.legend(loc="outside upper left", ncols=min(count, 3), frameon=False, fontsize=9)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    return out.getvalue()


def _attributes(match: re.Match[str]) -> str:
    pairs = (part.split(":", 1) for part in match[1].split(";") if ":" in part)
    return " ".join(f'{k.strip()}="{v.strip()}"' for k, v in pairs)


def _inline(svg: str, spec: Spec) -> str:
    """Return the SVG ready to sit in a page: no XML prologue or metadata, ids made the chart's own.

    The console's Content-Security-Policy (style-src 'self') refuses inline styles, so matplotlib's
    `style="fill: …"` become presentation attributes (`fill="…"`) and its <style> goes.
    """
    body = svg[svg.index("<svg") :]
    body = re.sub(r"\s*<metadata>.*?</metadata>", "", body, flags=re.S)
    body = re.sub(r"\s*<style[^>]*>.*?</style>", "", body, flags=re.S)
    body = re.sub(r'style="([^"]*)"', _attributes, body)
    prefix = f"chart-{spec.key}-"
    body = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m[1]}"', body)
    body = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m[1]})", body)
    body = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{prefix}{m[1]}"', body)
    root = f'<svg role="img" aria-label="{escape(spec.title)}" stroke-linejoin="round" stroke-linecap="butt" '
    return body.replace("<svg ", root, 1)


def render(spec: Spec, *, family: str | None = None) -> str:
    """Return the chart as inline SVG, drawn with the font family given (Noto Sans CJK if none).

    Raise LookupError when no Korean font is to be had. Blocking CPU work: call it from a thread.
    """
    family = family or font_family()
    if family is None:
        raise LookupError("Noto Sans CJK is not installed")
    key = (spec, family)
    with _lock:
        kept = _drawn.get(key)
        if kept is not None:
            _drawn.move_to_end(key)
            return kept
        drawn = _inline(_plot(spec, family), spec)
        _drawn[key] = drawn
        while len(_drawn) > _KEPT:
            _drawn.popitem(last=False)
    return drawn


def _render_all(specs: Sequence[Spec]) -> Charts:
    charts = Charts()
    if not specs:
        return charts
    if font_family() is None:
        charts.note = gettext(NO_FONT)
        return charts
    for spec in specs:
        try:
            charts.svg[spec.key] = Markup(render(spec))  # ours: texts are paths, comments and the label escaped
        except Exception:  # a chart that cannot be drawn must not take the page down
            log.exception("chart %s could not be drawn", spec.key)
    return charts


def _kept(spec: Spec, family: str) -> str | None:
    with _lock:
        return _drawn.get((spec, family))


async def draw(
    tables: Sequence[Table], *, locale: str | None = None, wait: bool = True, district_id: int | None = None
) -> Charts:
    """Return the charts of the tables that have one; wait=False: those not drawn yet come later by token.

    district_id: the district the figures are of (None: every district), checked when the token is used.
    """
    specs = [s for s in (spec_of(t, locale) for t in tables) if s is not None]
    if wait:
        return await asyncio.wrap_future(_worker.submit(_render_all, specs))
    charts = Charts()
    if not specs:
        return charts
    family = await asyncio.wrap_future(_worker.submit(font_family))
    if family is None:
        charts.note = gettext(NO_FONT)
        return charts
    for spec in specs:
        kept = _kept(spec, family)
        if kept is not None:
            charts.svg[spec.key] = Markup(kept)
            continue
        token = secrets.token_urlsafe(18)
        with _lock:
            _later[token] = (district_id, _worker.submit(render, spec, family=family))
            while len(_later) > _LATER_KEPT:
                _later.popitem(last=False)
        charts.later[spec.key] = token
    return charts


def later(token: str) -> tuple[int | None, Future[str]] | None:
    """Return the district and the drawing behind a placeholder's token (None: unknown or forgotten)."""
    with _lock:
        return _later.get(token)


def warm() -> None:
    """Import matplotlib and find the font now (blocking; `dolbom serve` calls it in a thread after start)."""
    if font_family() is not None:
        from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
