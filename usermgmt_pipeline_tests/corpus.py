"""Where the tests find the CASE reference corpus: the seed example config, the real templates and rules.

The corpus is not copied into the repository (it comes from real CASE deployments). `CASE_CORPUS_DIR` names
the folder that holds its `seed/` and `corpus/` folders, by default `../shared` beside the clone. Tests that
read it carry the `corpus` marker; without the folder they are deselected and the pytest summary says so,
unless `CASE_CORPUS_REQUIRED` is set (as `.ci/run` does), which makes its absence an error.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR_VAR = "CASE_CORPUS_DIR"
CORPUS_REQUIRED_VAR = "CASE_CORPUS_REQUIRED"

# ../shared beside the clone; a git worktree under ../wt/<name> finds it further up.
_DEFAULT_ROOT = next(
    (base / "shared" for base in REPO_ROOT.parents if (base / "shared" / "corpus").is_dir()),
    REPO_ROOT.parent / "shared",
)
CORPUS_ROOT = Path(os.environ.get(CORPUS_DIR_VAR) or _DEFAULT_ROOT).resolve()
SEED_CONFIG = CORPUS_ROOT / "seed" / "config.example.yaml"
TEMPLATE_DIR = CORPUS_ROOT / "corpus" / "templates"
RULES_DIR = CORPUS_ROOT / "corpus" / "rules"


def corpus_present() -> bool:
    return SEED_CONFIG.is_file() and TEMPLATE_DIR.is_dir() and RULES_DIR.is_dir()


def corpus_required() -> bool:
    return bool(os.environ.get(CORPUS_REQUIRED_VAR))


def absence_notice(deselected: int) -> str:
    return (
        f"{deselected} tests that read the CASE corpus were deselected: it is not at {CORPUS_ROOT} "
        f"(set {CORPUS_DIR_VAR} to the folder holding seed/ and corpus/)"
    )
