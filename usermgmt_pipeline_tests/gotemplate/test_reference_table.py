"""Every row of the html/template behaviour table in 02-tasks-and-flows.md §3.2."""

from __future__ import annotations

import pytest

from usermgmt_pipeline.gotemplate import TemplateRenderError, render_html_template

X = "R&D <P> \"x\" 'y'"
U = "https://example.com/path with space?q=1&r=ä"


def render(source: str, **data: str) -> str:
    return render_html_template(source, data, name="inst/registration/en")


def test_missing_key_renders_empty_not_no_value() -> None:
    assert render("Hi {{.nope}}!") == "Hi !"


def test_html_special_characters_are_entity_escaped() -> None:
    assert render("<p>{{.x}}</p>", x=X) == "<p>R&amp;D &lt;P&gt; &#34;x&#34; &#39;y&#39;</p>"


def test_plus_is_escaped_in_html_text() -> None:
    assert render("<p>{{.e}}</p>", e="a+b@example.com") == "<p>a&#43;b@example.com</p>"


def test_nul_is_replaced_by_replacement_character() -> None:
    assert render("<p>{{.n}}</p>", n="a\x00b") == "<p>a\ufffdb</p>"


def test_url_attribute_is_normalised_with_lower_case_percent_hex() -> None:
    assert (
        render('<a href="{{.u}}">', u=U)
        == '<a href="https://example.com/path%20with%20space?q=1&amp;r=%c3%a4">'
    )


def test_url_query_values_are_query_escaped_with_lower_case_hex() -> None:
    out = render(
        '<a href="https://x.org/verify?token={{.t}}&lang={{.l}}&u={{.u}}">', t="abc2def7", l="de", u=U
    )
    assert out == (
        '<a href="https://x.org/verify?token=abc2def7&lang=de'
        '&u=https%3a%2f%2fexample.com%2fpath%20with%20space%3fq%3d1%26r%3d%c3%a4">'
    )


def test_javascript_url_is_replaced_by_zgotmplz() -> None:
    assert render('<a href="{{.j}}">', j="javascript:alert(1)") == '<a href="#ZgotmplZ">'


def test_mailto_prefix_keeps_plus_entity_escaped() -> None:
    assert render('<a href="mailto:{{.e}}">', e="a+b@example.com") == '<a href="mailto:a&#43;b@example.com">'


def test_all_html_comments_are_stripped_including_mso_conditionals() -> None:
    assert render("<!-- c -->A<!--[if mso]><b>m</b><![endif]-->B") == "AB"


def test_doctype_is_kept() -> None:
    assert render("<!DOCTYPE html><p>x</p>") == "<!DOCTYPE html><p>x</p>"


def test_script_strings_and_values_are_js_escaped() -> None:
    out = render('<script>var t = "{{.x}}"; var u = {{.t}};</script>', x=X, t="abc2def7")
    assert out == (
        '<script>var t = "R\\u0026D \\u003cP\\u003e \\u0022x\\u0022 \\u0027y\\u0027"; var u = "abc2def7";</script>'
    )


def test_unquoted_attribute_with_equals_sign_is_an_error() -> None:
    with pytest.raises(TemplateRenderError) as info:
        render("<a href=https://x.org/?t={{.t}}>", t="abc")
    assert "in unquoted attr" in str(info.value)
    assert "inst/registration/en" in str(info.value)


def test_range_over_the_map_visits_keys_in_sorted_order() -> None:
    assert render("{{range $k, $v := .}}{{$k}}={{$v}};{{end}}", b="2", c="3", a="1") == "a=1;b=2;c=3;"
