"""devtools/ (the local FerretDB, the demo runner) stays in the repository: not installed, not imported."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from setuptools import find_packages

from usermgmt_pipeline_tests.conftest import REPO_ROOT


def test_the_distribution_holds_the_package_and_not_the_devtools() -> None:
    find = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]

    packages = find_packages(str(REPO_ROOT), include=find["include"], exclude=find["exclude"])

    assert "usermgmt_pipeline" in packages and "usermgmt_pipeline.demo" in packages
    assert not [name for name in packages if not name.startswith("usermgmt_pipeline")]


def test_no_module_of_the_package_imports_the_devtools() -> None:
    importing: list[str] = []
    for path in sorted((REPO_ROOT / "usermgmt_pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == "devtools" or name.startswith("devtools.") for name in names):
                importing.append(str(Path(path).relative_to(REPO_ROOT)))
    assert importing == []
