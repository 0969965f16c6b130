"""The one exception the configuration subsystem raises for anything wrong with a config."""

from __future__ import annotations

from collections.abc import Iterable

from usermgmt_pipeline.errors import UsermgmtError

ROOT_PATH = "(root)"


class ConfigError(UsermgmtError, ValueError):
    """Every problem found in a configuration, as `(dotted key path, message)` pairs.

    All problems of a document are reported together so an operator fixes them in one pass.
    Messages never contain the value of a secret field.
    """

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        super().__init__("\n".join(f"{path}: {message}" for path, message in self.errors))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[tuple[str, str]]]]:
        return (type(self), (self.errors,))
