"""What Docker and Kubernetes users deploy: the image, the compose services and the instance they share agree
with each other and with the package (the split-deployment test runs them; these checks name the drift)."""

from __future__ import annotations

import json
import tomllib

import pytest
import yaml

from usermgmt_pipeline.config.env_overrides import (
    ACCOUNT_HASH_KEY,
    SMTP_BRIDGE_API_KEY,
    STUDY_GLOBAL_SECRET,
    db_credential_env_vars,
)
from usermgmt_pipeline.config.rules import DB_KEYS
from usermgmt_pipeline_tests.conftest import REPO_ROOT
from usermgmt_pipeline_tests.orchestration.compose_services import (
    ComposeError,
    binds,
    interpolate,
    load_compose,
    service,
)

DAGSTER_SERVICES = ("code-location", "webserver", "daemon")
VARIABLES = {"DAGSTER_PG_PASSWORD": "pw", "USERMGMT_CONFIG": "/srv/usermgmt/config.yaml"}


def dockerfile_cmd() -> list[str]:
    lines = [line for line in (REPO_ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    assert len(lines) == 1, "the Dockerfile has one exec-form CMD"
    return json.loads(lines[0].removeprefix("CMD "))


def test_the_image_serves_the_code_location_exactly_as_the_compose_service_does() -> None:
    compose = load_compose()
    assert dockerfile_cmd() == service(compose, "code-location")["command"]
    assert service(compose, "code-location")["build"] == "."
    assert "pip install '.[postgres]'" in (REPO_ROOT / "Dockerfile").read_text()


def test_the_postgres_extra_pins_the_dagster_postgres_of_the_dagster_release() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["postgres"]
    assert "dagster-postgres==0.29.27" in extra and any(d.startswith("psycopg2-binary") for d in extra)
    assert "dagster==1.13.27" in project["dependencies"]


def test_compose_defines_the_four_services_with_telemetry_off_and_only_loopback_published() -> None:
    compose = load_compose()
    assert set(compose["services"]) == {"postgres", *DAGSTER_SERVICES}
    for name in DAGSTER_SERVICES:
        spec = service(compose, name)
        assert spec["environment"]["DAGSTER_DISABLE_TELEMETRY"] == "1", name
        assert spec["environment"]["DAGSTER_HOME"] == "/opt/dagster/home", name
        targets = {b.target: b.source for b in binds(compose, name, VARIABLES)}
        assert targets["/opt/dagster/home/dagster.yaml"] == REPO_ROOT / "deploy" / "dagster.yaml", name
        for published in spec.get("ports") or []:
            assert str(published).startswith("127.0.0.1:"), f"{name} publishes {published} beyond loopback"
    instance = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    assert instance["telemetry"] == {"enabled": False}


def test_the_code_location_gets_its_config_file_and_every_secret_variable_the_config_reads() -> None:
    compose = load_compose()
    spec = service(compose, "code-location")
    env = spec["environment"]
    targets = {b.target: b.source for b in binds(compose, "code-location", VARIABLES)}
    assert str(targets[env["CONFIG_FILE_PATH"]]) == VARIABLES["USERMGMT_CONFIG"]
    secrets = {SMTP_BRIDGE_API_KEY, STUDY_GLOBAL_SECRET, ACCOUNT_HASH_KEY}
    for db_key in DB_KEYS:
        secrets.update(db_credential_env_vars(db_key))
    for name in secrets:
        assert env.get(name) == f"${{{name}:-}}", f"{name} is not passed through to the code location"
    # The webserver and the daemon load no user code (gRPC only), so they get neither config nor secrets.
    for name in ("webserver", "daemon"):
        assert not secrets & set(service(compose, name)["environment"]), name
        assert "CONFIG_FILE_PATH" not in service(compose, name)["environment"], name


def test_compose_refuses_to_start_without_the_postgres_password_or_the_config_file() -> None:
    compose = load_compose()
    with pytest.raises(ComposeError, match="DAGSTER_PG_PASSWORD"):
        interpolate(service(compose, "code-location")["environment"]["DAGSTER_PG_URL"], {})
    with pytest.raises(ComposeError, match="USERMGMT_CONFIG"):
        binds(compose, "code-location", {"DAGSTER_PG_PASSWORD": "pw"})
    assert interpolate("a$${B}${C:-d}${E-f}", {"E": ""}) == "a${B}d"
