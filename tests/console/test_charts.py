"""The statistics charts: drawn by matplotlib as SVG with Noto Sans CJK, every letter a path, no tofu.

matplotlib warns "Glyph … missing from font(s) …" when a letter has no shape in the font and draws
an empty box (tofu) instead; these tests turn that warning into an error. A font without Hangul
(matplotlib's own DejaVu Sans) shows the check catches it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from care.statistics import Chart, Column, Table
from console import charts

ROOT = Path(__file__).resolve().parents[2]
SERVICES = [
    "식사지원",
    "정보제공·상담(기초상담)",
    "일시재가",
    "한울사회적협동조합과 함께하는 아주 긴 이름의 지역자활센터",
]


def _table(kind: str = "barh", *, stacked: bool = False, key: str = "services") -> Table:
    table = Table(key, "Requests and orders by service", [
        Column("label", "Service", "text"), Column("requests", "Requests"), Column("completed", "Completed"),
        Column("total", "Total", "won")], chart=Chart(kind, ("requests", "completed"), stacked=stacked))  # fmt: skip
    for i, name in enumerate(SERVICES):
        table.rows.append({"code": f"s{i}", "label": name, "requests": 10 * (i + 1), "completed": 5 * i,
                           "total": 834_606 * i})  # fmt: skip
    table.rows.append({"code": "total", "label": "합계", "requests": 100, "completed": 30, "total": 0})
    return table


def _strict_render(spec: charts.Spec, family: str | None = None) -> str:
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r"Glyph .* missing from font")
        return charts.render(spec, family=family)


def test_the_font_is_noto_sans_cjk() -> None:
    assert (charts.font_family() or "").startswith("Noto Sans CJK")


@pytest.mark.parametrize(("kind", "stacked"), [("barh", False), ("barh", True), ("bar", False), ("line", False)])
def test_korean_labels_are_drawn_as_paths_without_tofu(kind: str, stacked: bool) -> None:
    spec = charts.spec_of(_table(kind, stacked=stacked, key=f"t-{kind}-{stacked}"))
    assert spec is not None
    assert "합계" not in spec.labels  # the total row is the table's, not a bar
    assert spec.labels[3].endswith("…") and len(spec.labels[3]) <= 22
    assert [name for name, _ in spec.series] == ["신청", "완료"]
    svg = _strict_render(spec)
    assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    assert "<text" not in svg  # no letter left to a font the browser may not have
    assert "style" not in svg  # the console's CSP (style-src 'self') would refuse inline styles: all black
    assert 'fill="#ffffff"' in svg and 'fill="#2f6fb0"' in svg  # the background and the first series
    glyphs = re.findall(r'<path id="chart-[^"]*?-(NotoSansCJK[a-z]*-Regular)-([0-9a-f]+)"', svg)
    assert glyphs, "the letters are Noto Sans CJK paths"
    assert all(index != "0" for _, index in glyphs)  # glyph 0 is the font's empty box
    for label in ("식사지원", "일시재가", "신청", "완료"):  # matplotlib notes each text it turned into paths
        assert f"<!-- {label} -->" in svg, label
    assert 'aria-label="서비스별 신청과 주문"' in svg
    # Every id is the chart's own, and every reference points at one of them.
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    assert all(i.startswith(f"chart-{spec.key}-") for i in ids)
    refs = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', svg))
    assert refs and refs <= ids
    assert "http" not in svg.replace("http://www.w3.org/", "")  # nothing to fetch


def test_a_font_without_hangul_is_caught_as_tofu() -> None:
    spec = charts.spec_of(_table(key="dejavu"))
    assert spec is not None
    with pytest.raises(UserWarning, match="missing from font"):
        _strict_render(spec, family="DejaVu Sans")


def test_the_same_figures_give_the_same_svg_and_others_a_new_one() -> None:
    first = charts.spec_of(_table(key="again"))
    assert first is not None
    changed = _table(key="again")
    changed.rows[0]["requests"] = 999
    second = charts.spec_of(changed)
    assert second is not None
    assert charts.render(first) == charts.render(first)
    assert charts.render(second) != charts.render(first)
    assert "999" in charts.render(second)


def test_a_table_without_rows_or_chart_draws_nothing() -> None:
    empty = _table()
    empty.rows = [r for r in empty.rows if r["code"] == "total"]
    assert charts.spec_of(empty) is None
    plain = Table("plain", "Providers", [Column("label", "Provider", "text")], [{"code": "1", "label": "가"}])
    assert plain.chart is None and charts.spec_of(plain) is None
    assert Table("services", "x", []).chart == Chart("barh", ("requests", "completed"))  # from CHARTS


async def test_without_the_korean_font_there_is_a_note_and_no_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charts, "font_family", lambda: None)
    drawn = await charts.draw([_table()])
    assert drawn.svg == {}
    assert drawn.note and "한글 글꼴" in drawn.note


async def test_draw_gives_each_table_with_a_chart_its_svg() -> None:
    drawn = await charts.draw([_table(key="one"), _table("bar", key="two"), Table("none", "x", [])])
    assert set(drawn.svg) == {"one", "two"} and drawn.note is None


def test_the_bot_and_the_console_do_not_import_matplotlib() -> None:
    """The bot restarts in under 2 s: it must not pay for matplotlib (the console loads it on the first chart)."""
    code = (
        "import sys, bot.runtime, bot.telegram, bot.webchat, jobs.runtime, console.app, console.charts, dolbom.runner;"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_name_with_markup_stays_text() -> None:
    table = _table(key="markup")
    table.rows[0]["label"] = "<script>1</script>"
    table.rows[1]["label"] = "a --> <img src=x>"
    spec = charts.spec_of(table)
    assert spec is not None
    svg = _strict_render(spec)
    assert "<script" not in svg and "<img" not in svg
    comments = re.findall(r"<!--(.*?)-->", svg, flags=re.S)
    assert "&lt;script&gt;1&lt;/script&gt;" in [c.strip() for c in comments]
    assert all("--" not in c for c in comments)  # no comment ends early


def test_a_table_of_months_is_one_line_a_row() -> None:
    """The month-by-month trends: services down, months across, drawn as one line per service."""
    months = ["2026-09", "2026-10", "2026-11"]
    table = Table("trends", "Orders by month (not cancelled)", [
        Column("label", "Service", "text"), *[Column(m, m) for m in months], Column("total", "Total")])  # fmt: skip
    table.rows = [
        {"code": "meals", "label": "식사지원", "2026-09": 3, "2026-10": 5, "2026-11": 4, "total": 12},
        {"code": "escort", "label": "이동지원", "2026-09": 1, "2026-10": 0, "2026-11": 2, "total": 3},
        {"code": "total", "label": "합계", "2026-09": 4, "2026-10": 5, "2026-11": 6, "total": 15},
    ]
    assert table.chart is not None and table.chart.kind == "line"  # from CHARTS
    spec = charts.spec_of(table)
    assert spec is not None
    assert spec.labels == tuple(months)  # the total column is not a month
    assert spec.series == (("식사지원", (3.0, 5.0, 4.0)), ("이동지원", (1.0, 0.0, 2.0)))
    svg = _strict_render(spec)
    assert "<!-- 식사지원 -->" in svg and "<!-- 2026-10 -->" in svg and "<text" not in svg
