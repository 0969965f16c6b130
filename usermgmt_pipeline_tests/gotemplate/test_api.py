"""Public API contract: names, errors, caching."""

from __future__ import annotations

import pytest

from usermgmt_pipeline.gotemplate import TemplateRenderError, render_html_template
from usermgmt_pipeline.gotemplate.render import _compile


@pytest.mark.parametrize("source", ["", "   ", "\n\t \r\n", "\u3000"])
def test_empty_or_whitespace_source_is_an_empty_template_error(source: str) -> None:
    with pytest.raises(TemplateRenderError) as info:
        render_html_template(source, {}, name="i/registration/de")
    assert info.value.template_name == "i/registration/de"
    assert info.value.construct == "empty template"
    assert "empty template i/registration/de" in str(info.value)


def test_error_is_a_value_error_naming_template_and_construct() -> None:
    with pytest.raises(ValueError) as info:
        render_html_template("{{nope .x}}", {"x": "1"}, name="i/account-deleted/fr")
    err = info.value
    assert isinstance(err, TemplateRenderError)
    assert err.template_name == "i/account-deleted/fr"
    assert err.construct == "parse error"
    assert "i/account-deleted/fr" in str(err) and "nope" in str(err)


def test_unsupported_construct_is_refused_not_guessed() -> None:
    with pytest.raises(TemplateRenderError) as info:
        render_html_template("{{1i}}", {}, name="n")
    assert info.value.construct == "unsupported number"


def test_non_string_data_is_rejected() -> None:
    with pytest.raises(TemplateRenderError):
        render_html_template("{{.a}}", {"a": 1}, name="n")  # type: ignore[dict-item]


def test_parsed_templates_are_cached_by_source() -> None:
    source = "<p>{{.token}} cached</p>"
    _compile.cache_clear()
    assert render_html_template(source, {"token": "a"}, name="n") == "<p>a cached</p>"
    assert render_html_template(source, {"token": "b"}, name="n") == "<p>b cached</p>"
    info = _compile.cache_info()
    assert info.misses == 1 and info.hits == 1


def test_data_is_not_mutated_and_data_variants_do_not_leak_between_renders() -> None:
    data = {"token": "t1"}
    assert render_html_template("{{$x := .token}}{{$x}}", data, name="n") == "t1"
    assert data == {"token": "t1"}
    assert render_html_template("{{$x := .token}}{{$x}}", {}, name="n") == ""
