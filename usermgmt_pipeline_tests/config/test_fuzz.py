"""Fuzzing: whatever the input, loading either succeeds or raises `ConfigError`, never anything else."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usermgmt_pipeline.config import AppConfig, ConfigError, parse_config_text
from usermgmt_pipeline_tests.config.configs import to_yaml, valid_config
from usermgmt_pipeline_tests.corpus import SEED_CONFIG


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["168h", "0", "-1h", "7d", "1.5h", "yes", "0x1F", "1e999", "UTC", "0 3 * * *", "a.b", "<<"]
    ),
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += _paths(value, (*prefix, index))
    return paths


def _assert_loads_or_config_error(text: str | bytes, env: dict[str, str] | None = None) -> None:
    try:
        cfg = parse_config_text(text, env or {})
    except ConfigError as exc:
        assert exc.errors
        assert all(isinstance(path, str) and isinstance(msg, str) and msg for path, msg in exc.errors)
        return
    assert isinstance(cfg, AppConfig)


@fuzz_settings(600)
@given(st.data())
def test_any_value_at_any_key_loads_or_raises_config_error(data: st.DataObject) -> None:
    config = valid_config()
    config["study_configs"]["external_services"] = [{"name": "svc", "url": "https://s", "apiKey": "k"}]
    config["orchestration"] = {"schedule_cron": "0 3 * * *", "max_deletion_share": 0.1}
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(_paths(config)))
        target = config
        for key in path[:-1]:
            target = target[key]
        if data.draw(st.booleans()):
            target[path[-1]] = data.draw(_values)
        elif isinstance(target, dict):
            target[data.draw(st.text(max_size=8))] = data.draw(_values)
    env = data.draw(
        st.dictionaries(
            st.sampled_from(["STUDY_DB_PASSWORD", "STUDY_GLOBAL_SECRET", "EXTERNAL_SERVICE_API_KEY_FOR_SVC"]),
            st.text(max_size=5),
        )
    )
    _assert_loads_or_config_error(yaml.safe_dump(copy.deepcopy(config), allow_unicode=True), env)


@fuzz_settings(1000)
@given(st.text(max_size=200))
def test_arbitrary_text_loads_or_raises_config_error(text: str) -> None:
    _assert_loads_or_config_error(text)


@fuzz_settings(400)
@given(st.data())
def test_mutated_seed_config_loads_or_raises_config_error(data: st.DataObject) -> None:
    use_seed = SEED_CONFIG.is_file() and data.draw(st.booleans())  # the seed example when the corpus is here
    text = SEED_CONFIG.read_text(encoding="utf-8") if use_seed else to_yaml(valid_config())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(text)))
        if data.draw(st.booleans()):
            text = (
                text[:position]
                + data.draw(st.text(alphabet=":-&*<>[]{}!|'\"#\n ~0y.", max_size=4))
                + text[position:]
            )
        else:
            text = text[:position] + text[position + data.draw(st.integers(min_value=1, max_value=20)) :]
    _assert_loads_or_config_error(text)


@fuzz_settings(300)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_load_or_raise_config_error(raw: bytes) -> None:
    _assert_loads_or_config_error(raw)
