"""Robustness: arbitrary input either renders or raises TemplateRenderError -- nothing else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usermgmt_pipeline.gotemplate import TemplateRenderError, render_html_template

from .strategies import data_maps, templates

_PIECES = [
    "{{", "}}", "{{-", "-}}", " ", ".", ".a", "$", "$x", ":=", "=", "|", "(", ")", '"', "`", "'", "\\",
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue", "nil",
    "true", "1", "-", "+", "0x", "e", "i", "_", "index", "printf", "%", "html", "<", ">", "/", "!--",
    "script", "style", "a", "href=", "title", "*/", "/*", "\n", "ä", "\x00", ";", ",", "#", "?", "&",
]  # fmt: skip

soup = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)


def _renders_or_refuses(source: str, data: dict[str, str]) -> None:
    try:
        out = render_html_template(source, data, name="fuzz")
    except TemplateRenderError as e:
        assert e.template_name == "fuzz"
        return
    assert isinstance(out, str)


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.one_of(soup, st.text(max_size=60)), data=data_maps)
def test_token_soup_renders_or_raises_template_render_error(source: str, data: dict[str, str]) -> None:
    _renders_or_refuses(source, data)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=templates(), data=data_maps)
def test_structured_templates_render_or_raise_template_render_error(
    source: str, data: dict[str, str]
) -> None:
    _renders_or_refuses(source, data)
