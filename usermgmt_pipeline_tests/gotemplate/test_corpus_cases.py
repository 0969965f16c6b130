"""The stored corpus: each case's expected output was produced by Go's html/template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usermgmt_pipeline.gotemplate import TemplateRenderError, render_html_template

CORPUS = json.loads(Path(__file__).with_name("cases.json").read_text(encoding="utf-8"))
CASES = CORPUS["cases"]


def test_corpus_states_its_provenance_and_is_large_enough() -> None:
    assert "tools/gotemplate_oracle" in CORPUS["about"]
    assert "Go go1." in CORPUS["about"]
    assert len(CASES) >= 60
    assert sum(1 for c in CASES if c["expected_error"] is not None) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_renders_exactly_like_go(case: dict) -> None:
    name = f"case/{case['id']}"
    if case["expected_error"] is not None:
        with pytest.raises(TemplateRenderError) as info:
            render_html_template(case["template"], case["data"], name=name)
        assert info.value.template_name == name
    else:
        assert render_html_template(case["template"], case["data"], name=name) == case["expected_output"]
