"""The code cites docs/ (in the repository), never the reference outside it; every cited section exists."""

from __future__ import annotations

import re
from pathlib import Path

from usermgmt_pipeline_tests.conftest import REPO_ROOT

SOURCES = [
    *sorted((REPO_ROOT / "usermgmt_pipeline").rglob("*.py")),
    *sorted((REPO_ROOT / "usermgmt_pipeline_tests").rglob("*.py")),
    *sorted((REPO_ROOT / "benchmarks").rglob("*.py")),
    REPO_ROOT / "README.md",
]
CITATION = re.compile(r"docs/([\w-]+\.md) ((?:§[\d.]+(?:-[\d.]+)?(?:, )?)+)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path != Path(__file__) else ""


def test_no_source_cites_the_reference_outside_the_repository() -> None:
    outside = re.compile(r"reference/|(?<![\w.-])0[0-3] §|00-decisions")
    assert not [str(p.relative_to(REPO_ROOT)) for p in SOURCES if outside.search(_text(p))]


def test_every_cited_docs_section_exists() -> None:
    missing = []
    for path in SOURCES:
        for doc, sections in CITATION.findall(_text(path)):
            headings = (REPO_ROOT / "docs" / doc).read_text(encoding="utf-8")
            for section in (s.rstrip(".") for s in re.findall(r"§([\d.]+)", sections)):
                if not re.search(rf"^#+ {re.escape(section)}\.? ", headings, re.M):
                    missing.append(f"{path.relative_to(REPO_ROOT)}: docs/{doc} §{section}")
    assert not missing
