from __future__ import annotations

import pytest

from .oracle import GoUnavailableError, build_oracle


@pytest.fixture(scope="session")
def go_oracle() -> None:
    """Builds tools/gotemplate_oracle; fails (never skips) when Go is missing."""
    try:
        build_oracle()
    except GoUnavailableError as e:
        pytest.fail(str(e))
