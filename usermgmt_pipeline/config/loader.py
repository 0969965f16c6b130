"""Reading the job configuration: strict YAML -> typed data -> env overrides -> rules -> `AppConfig`.

Every problem of a document is collected and raised together as one `ConfigError`, because the Go job
stopped at the first one (after a panic) and operators fixed configs one error per deployment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from usermgmt_pipeline.config.decoding import DecodeContext, decode_document, join_path
from usermgmt_pipeline.config.env_overrides import apply_env_overrides
from usermgmt_pipeline.config.errors import ROOT_PATH, ConfigError
from usermgmt_pipeline.config.models import AppConfig, app_config_model
from usermgmt_pipeline.config.rules import Loc, app_errors
from usermgmt_pipeline.config.task_flags import TASK_FLAGS, TaskFlag
from usermgmt_pipeline.config.yaml_nodes import YamlSyntaxError, compose_document, is_null

CONFIG_FILE_PATH_VAR = "CONFIG_FILE_PATH"


def _fallback_path(loc: Loc) -> str:
    path = ""
    for part in loc:
        path = join_path(path, part)
    return path or ROOT_PATH


def parse_config_text(
    text: str | bytes, env: Mapping[str, str] | None = None, flags: tuple[TaskFlag, ...] = TASK_FLAGS
) -> AppConfig:
    """Parse a configuration document; `env` None means `os.environ`. Raises `ConfigError`.

    `flags` are the `run_tasks` keys the document may set (the package's tasks unless a caller, such as a
    test with a task of its own, builds the job from other declarations).

    Memoised per (text, environment): a run asks for the config in many places (CLI, resources, every step),
    and the `AppConfig` is immutable, so the same document in the same environment is parsed once per process.
    Keyed by the content rather than a file's mtime, so a file rewritten within one clock tick is re-read.
    """
    env = os.environ if env is None else env
    return _parse_cached(text, tuple(sorted(env.items())), flags)


@lru_cache(maxsize=8)
def _parse_cached(
    text: str | bytes, env_items: tuple[tuple[str, str], ...], flags: tuple[TaskFlag, ...]
) -> AppConfig:
    env = dict(env_items)
    model = app_config_model(flags)
    try:
        root = compose_document(text)
    except YamlSyntaxError as exc:
        raise ConfigError([(ROOT_PATH, str(exc))]) from None
    if root is None or is_null(root):
        raise ConfigError(
            [(ROOT_PATH, "the configuration is empty; expected a mapping of configuration keys")]
        )
    ctx = DecodeContext()
    data = decode_document(model, root, ctx)
    if data is not None:
        apply_env_overrides(data, env)
        for loc, message in app_errors(data, flags):
            ctx.error(ctx.path_of(loc, _fallback_path(loc)), message)
    if ctx.errors or data is None:
        raise ConfigError(ctx.errors)
    try:
        return model.model_validate(data)
    except ValidationError as exc:  # the rules above should have caught everything; never leak input
        raise ConfigError(
            [(_fallback_path(tuple(err["loc"])), err["msg"]) for err in exc.errors(include_input=False)]
        ) from None


def load_config(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    flags: tuple[TaskFlag, ...] = TASK_FLAGS,
) -> AppConfig:
    """Load the YAML file at `path`, apply env overrides from `env` (None: `os.environ`), validate; `flags`
    as for `parse_config_text`."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            [("(file)", f"cannot read the configuration file {os.fspath(path)!r}: {exc.strerror or exc}")]
        ) from None
    return parse_config_text(text, env, flags)


def load_config_from_env(
    env: Mapping[str, str] | None = None, flags: tuple[TaskFlag, ...] = TASK_FLAGS
) -> AppConfig:
    """Load the file named by `CONFIG_FILE_PATH`, as the Go job does."""
    env = os.environ if env is None else env
    path = env.get(CONFIG_FILE_PATH_VAR, "")
    if not path:
        raise ConfigError([(CONFIG_FILE_PATH_VAR, "is not set; it must name the YAML configuration file")])
    try:
        return load_config(path, env, flags)
    except ConfigError as exc:
        if exc.errors and exc.errors[0][0] == "(file)":
            raise ConfigError([(CONFIG_FILE_PATH_VAR, exc.errors[0][1])]) from None
        raise
