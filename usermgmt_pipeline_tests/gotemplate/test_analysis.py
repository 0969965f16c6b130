"""`reads_data_key`: may a template observe one key's value? Conservative: any doubt counts as reading."""

from __future__ import annotations

import pytest

from usermgmt_pipeline.gotemplate.analysis import reads_data_key, string_literals

from .test_real_templates import TEMPLATES


@pytest.mark.parametrize(
    "source",
    [
        "{{.language}}",
        "{{$.language}}",
        '{{index . "language"}}',
        "{{index $ `language`}}",
        '{{if eq .language "fr"}}x{{end}}',
        "{{(.).language}}",
        "{{.}}",
        "{{$}}",
        "{{len .}}",
        "{{range $k, $v := .}}{{$v}}{{end}}",
        "{{with .}}{{.token}}{{end}}",
        "{{$d := .}}{{$d.x}}",
        "{{index . .other}}",
        '{{define "a"}}{{.language}}{{end}}{{template "a" .}}',
        '{{define "a"}}{{$.language}}{{end}}{{template "a" .}}',
        '{{template "a" $}}{{define "a"}}x{{end}}',
        "{{if}",  # does not parse: rendering fails under every language anyway
    ],
)
def test_every_way_to_reach_the_key_counts_as_reading_it(source: str) -> None:
    assert reads_data_key(source, "language")


@pytest.mark.parametrize(
    "source",
    [
        "<p>static</p>",
        "{{.token}}",
        '{{index . "token"}}',
        '<a href="https://x.org/?t={{index $ "token"}}">x</a>',
        "{{$t := .token}}{{$t}}",
        '{{define "a"}}{{.token}}{{end}}{{template "a" .}}',
        '{{if eq .app "x"}}{{.token}}{{else}}y{{end}}',
    ],
)
def test_uses_of_other_keys_only_do_not_read_it(source: str) -> None:
    assert not reads_data_key(source, "language")


@pytest.mark.corpus
def test_no_real_template_reads_the_language() -> None:
    assert TEMPLATES
    assert not [p.name for p in TEMPLATES if reads_data_key(p.read_text(encoding="utf-8"), "language")]


def test_string_literals_are_every_quoted_constant_in_actions() -> None:
    source = '<p>"text"</p>{{if eq .language "fr"}}{{printf "%s" `it`}}{{end}}'
    assert string_literals(source) == {"fr", "%s", "it"}
    assert string_literals("{{if}") == set()
