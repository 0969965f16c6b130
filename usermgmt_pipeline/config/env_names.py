"""Environment-variable names derived from config names, exactly as Go's `pkg/utils/env-utils.go`.

Operators already export `EXTERNAL_SERVICE_API_KEY_FOR_<NAME>` variables for the Go job, so the
normalisation must give the same name for every input, including non-ASCII ones.
"""

from __future__ import annotations

import re

EXTERNAL_SERVICE_API_KEY_PREFIX = "EXTERNAL_SERVICE_API_KEY_FOR_"
_NOT_UPPER_ALNUM = re.compile(r"[^A-Z0-9]+")


def _go_simple_upper(text: str) -> str:
    """Go `strings.ToUpper`: the *simple* per-character mapping.

    Python's `str.upper` applies full case mapping (`ß` -> `SS`, `ǰ` -> `J̌`); Go keeps such characters
    unchanged, so a character whose upper-case form has several code points stays as it is.
    """
    out = []
    for char in text:
        upper = char.upper()
        out.append(upper if len(upper) == 1 else char)
    return "".join(out)


def generate_env_var_name(name: str) -> str:
    """Go `GenerateEnvVarName`: upper-case, collapse runs outside `[A-Z0-9]` to `_`, trim `_`."""
    return _NOT_UPPER_ALNUM.sub("_", _go_simple_upper(name)).strip("_")


def external_service_api_key_env_var(service_name: str) -> str:
    """Go `GenerateExternalServiceAPIKeyEnvVarName`; an all-symbol name yields the bare prefix."""
    return EXTERNAL_SERVICE_API_KEY_PREFIX + generate_env_var_name(service_name)
