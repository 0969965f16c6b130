"""Render limits: a template that grows without bound fails fast with a clear error; below the limits the
output is unchanged (the Go-oracle tests in this folder all run under the default limits)."""

from __future__ import annotations

import time

import pytest

from usermgmt_pipeline.gotemplate import (
    DEFAULT_LIMITS,
    RenderLimits,
    TemplateRenderError,
    render_html_template,
)

from .test_real_templates import DATA, TEMPLATES


def define_bomb(levels: int, leaf: str) -> str:
    """`levels` nested defines, each calling the next twice: 2^levels copies of `leaf`."""
    defines = "".join(
        f'{{{{define "t{i}"}}}}{{{{template "t{i + 1}" .}}}}{{{{template "t{i + 1}" .}}}}{{{{end}}}}'
        for i in range(levels)
    )
    return f'{defines}{{{{define "t{levels}"}}}}{leaf}{{{{end}}}}<p>{{{{template "t0" .}}}}</p>'


def render_timed(source: str, limits: RenderLimits = DEFAULT_LIMITS) -> tuple[TemplateRenderError, float]:
    started = time.monotonic()
    with pytest.raises(TemplateRenderError) as caught:
        render_html_template(source, {"token": "t"}, name="i/account-deleted/en", limits=limits)
    return caught.value, time.monotonic() - started


def test_a_define_bomb_with_tiny_output_stops_at_the_time_limit() -> None:
    error, elapsed = render_timed(define_bomb(60, ""), RenderLimits(max_seconds=0.5))

    assert error.construct == "render limit exceeded"
    assert "longer than 0.5 s" in str(error) and "i/account-deleted/en" in str(error)
    assert elapsed < 3


def test_a_define_bomb_with_big_leaves_stops_at_the_output_limit() -> None:
    error, elapsed = render_timed(define_bomb(40, "y" * 65536))

    assert error.construct == "render limit exceeded"
    assert f"output exceeds {DEFAULT_LIMITS.max_output_bytes} bytes" in str(error)
    assert elapsed < 3


def test_a_value_doubled_in_a_loop_stops_before_it_is_printed() -> None:
    source = '{{$x := "ab"}}{{range 80}}{{$x = printf "%s%s" $x $x}}{{end}}{{$x}}'

    error, elapsed = render_timed(source)

    assert "a value grew beyond" in str(error)
    assert elapsed < 3


def test_a_huge_range_stops_at_the_time_limit() -> None:
    error, elapsed = render_timed("{{range 1000000000}}{{end}}", RenderLimits(max_seconds=0.3))

    assert "longer than 0.3 s" in str(error)
    assert elapsed < 3


def test_output_exactly_at_the_limit_is_rendered_unchanged() -> None:
    source = define_bomb(10, "z")
    full = render_html_template(source, {}, name="n")

    assert render_html_template(source, {}, name="n", limits=RenderLimits(max_output_bytes=len(full))) == full
    with pytest.raises(TemplateRenderError, match="output exceeds"):
        render_html_template(source, {}, name="n", limits=RenderLimits(max_output_bytes=len(full) - 1))


def test_real_templates_render_the_same_under_a_limit_of_their_own_size() -> None:
    for path in TEMPLATES:
        source = path.read_text(encoding="utf-8")
        full = render_html_template(source, DATA, name=path.stem)
        tight = RenderLimits(max_output_bytes=len(full.encode("utf-8")), max_seconds=1.0)
        assert render_html_template(source, DATA, name=path.stem, limits=tight) == full, path.name
