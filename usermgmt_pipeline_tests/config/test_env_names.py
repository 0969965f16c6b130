"""Env-var name normalisation parity with Go `pkg/utils/env-utils.go` (docs/case-data.md §1.7)."""

from __future__ import annotations

import pytest

from usermgmt_pipeline.config import external_service_api_key_env_var, generate_env_var_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("myservice", "MYSERVICE"),
        ("my-analytics-service", "MY_ANALYTICS_SERVICE"),
        ("my service name", "MY_SERVICE_NAME"),
        ("my-service_name.v2", "MY_SERVICE_NAME_V2"),
        ("-my_service-", "MY_SERVICE"),
        ("MYSERVICE", "MYSERVICE"),
        ("", ""),
        ("---", ""),
        ("service-v1.2.3", "SERVICE_V1_2_3"),
    ],
)
def test_generate_env_var_name_matches_go_vectors(name: str, expected: str) -> None:
    assert generate_env_var_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("analytics", "EXTERNAL_SERVICE_API_KEY_FOR_ANALYTICS"),
        ("my-analytics-service", "EXTERNAL_SERVICE_API_KEY_FOR_MY_ANALYTICS_SERVICE"),
        ("notification.hub.v2", "EXTERNAL_SERVICE_API_KEY_FOR_NOTIFICATION_HUB_V2"),
        ("my external service", "EXTERNAL_SERVICE_API_KEY_FOR_MY_EXTERNAL_SERVICE"),
        ("notification-api_v2", "EXTERNAL_SERVICE_API_KEY_FOR_NOTIFICATION_API_V2"),
        ("webhook-handler", "EXTERNAL_SERVICE_API_KEY_FOR_WEBHOOK_HANDLER"),
        ("email-service", "EXTERNAL_SERVICE_API_KEY_FOR_EMAIL_SERVICE"),
        ("***", "EXTERNAL_SERVICE_API_KEY_FOR_"),
    ],
)
def test_external_service_env_var_matches_go_vectors(name: str, expected: str) -> None:
    assert external_service_api_key_env_var(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("straße", "STRA_E"),  # Go keeps ß (no simple upper case); Python's upper() would give STRASSE
        ("ﬀ-service", "SERVICE"),  # ligature stays a ligature in Go, then becomes _
        ("ǰob", "OB"),  # Python's upper() would give "J̌OB"
        ("dıgit", "DIGIT"),  # dotless i upper-cases to I in both
        ("ſervice", "SERVICE"),  # long s upper-cases to S in both
        ("éclair", "CLAIR"),  # É is not in [A-Z]
    ],
)
def test_generate_env_var_name_uses_go_simple_upper_case_mapping(name: str, expected: str) -> None:
    assert generate_env_var_name(name) == expected
