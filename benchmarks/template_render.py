"""Benchmark: render a ~10 KB email template with 50 substitutions (target: median < 5 ms).

Run: ``.venv/bin/python benchmarks/template_render.py``. The parsed/escaped template is cached by
source text, so this measures the steady state the pipeline sees (one template, many users).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from usermgmt_pipeline.gotemplate import render_html_template

ROW = (
    '<tr><td class="cell" style="padding: 8px; color: #333333;"><!-- row {i} -->'
    '<p>Hello {{{{.app_name}}}}, your code is <b>{{{{index . "token"}}}}</b>.</p>'
    '<a href="https://example.org/verify?token={{{{.token}}}}&lang={{{{.language}}}}&i={i}">verify</a>'
    "</td></tr>\n"
)


def build_template() -> str:
    rows = [ROW.format(i=i) for i in range(13)]
    head = "<!DOCTYPE html><html><head><title>{{.app_name}}</title></head><body><table>\n"
    body = head + "".join(rows) + "</table></body></html>\n"
    pad = 10_240 - len(body)
    return body.replace("</table>", "<p>" + "Lorem ipsum dolor sit amet. " * (pad // 28) + "</p></table>")


def main(runs: int = 500) -> None:
    source = build_template()
    subs = source.count("{{")
    data = {"app_name": "Grippenet <CH>", "token": "abc2def7+/=", "language": "de"}
    render_html_template(source, data, name="bench")  # warm the parse cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        render_html_template(source, data, name="bench")
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    from usermgmt_pipeline.gotemplate.render import _compile

    _compile.cache_clear()
    render_html_template(source, data, name="bench")
    cold = time.perf_counter() - t0
    print(f"template: {len(source)} bytes, {subs} substitutions, {runs} runs")
    print(
        f"median render: {statistics.median(times) * 1000:.3f} ms (p95 {sorted(times)[int(runs * 0.95)] * 1000:.3f} ms)"
    )
    print(f"first render incl. parse+escape: {cold * 1000:.3f} ms")


if __name__ == "__main__":
    main()
