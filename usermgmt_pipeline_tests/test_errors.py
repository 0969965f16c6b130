"""Every exception the package defines hangs under `UsermgmtError`, and `errors.py` draws each one."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import usermgmt_pipeline
from usermgmt_pipeline import errors
from usermgmt_pipeline.case.leases import LeaseLost
from usermgmt_pipeline.errors import UsermgmtError

# `definitions` builds the Dagster code location from CONFIG_FILE_PATH at import; it defines no exception.
_NOT_IMPORTED = {"usermgmt_pipeline.definitions"}


def _package_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module_info in pkgutil.walk_packages(usermgmt_pipeline.__path__, "usermgmt_pipeline."):
        if module_info.name in _NOT_IMPORTED or module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module_info.name
            ):
                found.add(value)
    return found


def test_every_package_exception_derives_from_the_root_except_the_lease_stop_signal() -> None:
    classes = _package_exceptions()
    assert LeaseLost in classes
    outside = {cls.__qualname__ for cls in classes if not issubclass(cls, UsermgmtError)}
    assert outside == {"LeaseLost"}
    assert not issubclass(LeaseLost, Exception)


def test_the_documented_tree_names_every_package_exception() -> None:
    tree = errors.__doc__ or ""
    missing = sorted(cls.__qualname__ for cls in _package_exceptions() if cls.__qualname__ not in tree)
    assert missing == []
