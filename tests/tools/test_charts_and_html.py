"""Charts are valid images, and the HTML report is self-contained and opens cleanly."""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image

from lamina.billing.prices import load_prices
from lamina.billing.projection import Workload, parse_rate, parse_server_price
from lamina.tools import charts, reports
from lamina.tools.compare import compare_results
from lamina.tools.html_report import Section, Table, render
from tests.tools.browser import open_page
from tests.tools.factories import cold_bench, tune_result

TABLE = load_prices()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes every pixel: a truncated file fails here
        assert image.format == "PNG"
        return image.size


def test_tuning_chart_is_a_valid_png_and_svg() -> None:
    figure = charts.tuning_figure([tune_result(TABLE)])
    assert assert_png(charts.png_bytes(figure)) == (900, 500)
    svg = charts.svg_text(figure)
    root = ET.fromstring(svg.encode())
    assert root.tag.endswith("svg")


def test_coldstart_and_projection_charts_are_valid_pngs(tmp_path: Path) -> None:
    assert assert_png(charts.png_bytes(charts.coldstart_figure(cold_bench()))) == (1000, 500)
    workload = Workload.from_samples(128, [10] * 5, "x86_64")
    figure = charts.projection_figure(
        [("fn", workload, "x86_64"), ("fn", workload, "arm64")],
        TABLE,
        server=parse_server_price("40$/month"),
        rate=parse_rate("10/s"),
    )
    path = tmp_path / "projection.png"
    charts.save(figure, path)
    assert_png(path.read_bytes())
    charts.save(figure, tmp_path / "projection.svg")
    ET.parse(tmp_path / "projection.svg")


def external_references(html: str) -> list[str]:
    """Anything a browser would fetch: src/href attributes and CSS url() not data: ones."""
    found = re.findall(r"""(?:src|href)\s*=\s*["']?(?!data:)([^"'\s>]+)""", html)
    found += re.findall(r"url\(\s*['\"]?(?!data:)([^)'\"]+)", html)
    return found


def test_report_writes_pngs_and_a_self_contained_html(tmp_path: Path) -> None:
    rate, server = parse_rate("10/s"), parse_server_price("40$/month")
    result = tune_result(TABLE)
    chart_list = reports.tune_charts(result, TABLE, rate, server)
    sections = reports.tune_sections(result, TABLE, rate, chart_list)
    written = reports.write_outputs(
        "Lamina: power tuning of cpu", chart_list, sections, tmp_path / "tune.png",
        tmp_path / "tune.html",
    )  # fmt: skip
    assert [p.name for p in written] == ["tune.png", "tune-projection.png", "tune.html"]
    for png in written[:2]:
        assert_png(png.read_bytes())
    html = (tmp_path / "tune.html").read_text()
    assert external_references(html) == []
    assert "Content-Security-Policy" in html
    images = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(images) == 2
    for data in images:
        ET.fromstring(base64.b64decode(data))
    assert "1769 MB" in html and "recommended (cost)" in html


def test_html_report_opens_in_headless_chromium_without_console_errors(tmp_path: Path) -> None:
    rate = parse_rate("10/s")
    python, rust = tune_result(TABLE, "orders-py"), tune_result(TABLE, "orders-rs", 0.1)
    comparison = compare_results(python, rust, TABLE, rate)
    chart_list = reports.compare_charts(comparison, TABLE, rate, parse_server_price("40"))
    sections = reports.compare_sections(comparison, TABLE, chart_list)
    bench = cold_bench()
    sections += reports.coldstart_sections(bench, reports.coldstart_charts(bench))
    page = tmp_path / "report.html"
    reports.write_outputs("Lamina: everything", chart_list, sections, None, page)

    dom, console = open_page(page, tmp_path / "profile")
    assert console == [], console
    assert '<body data-ready="yes">' in dom  # the page's script ran to its end
    assert dom.count("<table") == 4  # the comparison, both tunings, the cold starts
    assert dom.count("<img") == 3
    assert "orders-py / orders-rs" in dom


def test_a_broken_page_is_caught_by_the_console_check(tmp_path: Path) -> None:
    """The check above can fail: a page with a script error and a blocked fetch does."""
    page = tmp_path / "broken.html"
    html = render("broken", [Section("s", tables=[Table(["A"], [["1"]])])])
    html = html.replace(
        "</body>", '<img src="http://127.0.0.1:9/x.png"><script>nope();</script></body>'
    )
    page.write_text(html)
    _, console = open_page(page, tmp_path / "profile")
    assert any("Content Security Policy" in line for line in console)
    assert any("nope is not defined" in line for line in console)
