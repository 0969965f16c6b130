"""Suite settings that guard upgrades: a deprecated API called from our code fails the test that calls it."""

from __future__ import annotations

import warnings

import pytest


def test_a_deprecation_warning_raised_from_our_code_is_an_error() -> None:
    with pytest.raises(DeprecationWarning, match="going away"):
        warnings.warn("this API is going away", DeprecationWarning, stacklevel=1)
