"""The 41 real CASE email templates (read from the CASE corpus at CASE_CORPUS_DIR, never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from usermgmt_pipeline.gotemplate import render_html_template
from usermgmt_pipeline_tests.corpus import TEMPLATE_DIR

from .oracle import run_oracle

pytestmark = pytest.mark.corpus
TEMPLATES = sorted(TEMPLATE_DIR.glob("*.html"))

DATA = {
    "token": "abc2def7+/=?&x",
    "loginToken": "lt-0123456789abcdef",
    "studyKey": "weekly & intake",
    "verificationCode": "123456",
    "language": "de",
    "app_name": "Grippenet <Schweiz>",
}


def _name(path: Path) -> str:
    return f"grippenet/{path.stem}"


def test_the_real_corpus_is_present() -> None:
    assert len(TEMPLATES) == 41, f"expected the 41 real templates in {TEMPLATE_DIR}"


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.stem for p in TEMPLATES])
def test_real_template_renders_without_comments_and_with_the_token(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    out = render_html_template(source, DATA, name=_name(path))
    assert "<!--" not in out
    if '"token"' in source:
        assert "abc2def7&#43;/=?&amp;x" in out or "abc2def7%2b%2f%3d%3f%26x" in out


def test_real_templates_render_byte_identical_to_go(go_oracle: None) -> None:
    sources = [p.read_text(encoding="utf-8") for p in TEMPLATES]
    expected = run_oracle(
        [{"name": _name(p), "template": s, "data": DATA} for p, s in zip(TEMPLATES, sources, strict=True)]
    )
    mismatches = []
    for path, source, exp in zip(TEMPLATES, sources, expected, strict=True):
        assert exp.error is None, f"Go failed on {path.name}: {exp.error}"
        if render_html_template(source, DATA, name=_name(path)) != exp.output:
            mismatches.append(path.name)
    assert mismatches == []
