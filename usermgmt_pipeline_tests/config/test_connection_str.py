"""`connection_str` is read by pymongo's own URI parser at load, as the job builds the URI, without any network."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymongo import MongoClient

from usermgmt_pipeline.case.connections import build_uri
from usermgmt_pipeline_tests.config.configs import load_dict, valid_config
from usermgmt_pipeline_tests.orchestration.helpers import config_document, write_config
from usermgmt_pipeline_tests.test_cli import run_cli


@pytest.mark.parametrize(
    ("prefix", "connection_str"),
    [
        ("", "localhost:27017"),
        ("", "localhost"),
        ("", "mongo-0.mongo:27017,mongo-1.mongo:27017,mongo-2.mongo:27017/?replicaSet=rs0"),
        ("", "mongo-0:27017,mongo-1:27017/admin?replicaSet=rs0&readPreference=secondaryPreferred"),
        ("", "mongo:27017/?authSource=admin&tls=true&retryWrites=false"),
        ("", "[::1]:27017,127.0.0.1:27018/"),
        ("", "%2Ftmp%2Fmongodb-27017.sock"),
        ("", "<connection_str>"),  # the seed example's placeholder: a host name pymongo accepts
        # `.invalid` never resolves (RFC 6761): this loads only because loading looks nothing up.
        ("+srv", "cluster0.usermgmt.invalid/?retryWrites=true&w=majority"),
        ("+srv", "cluster0.usermgmt.invalid"),
    ],
)
def test_every_valid_form_of_the_uri_loads(prefix: str, connection_str: str) -> None:
    config = valid_config()
    config["db_configs"]["study_db"].update(connection_str=connection_str, connection_prefix=prefix)
    loaded = load_dict(config).db_configs.study_db
    assert build_uri(loaded, "study_db") == f"mongodb{prefix}://{connection_str}"


def test_a_malformed_connection_str_exits_2_at_load_naming_the_key_touching_no_database(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    document = config_document(mongo_uri, db_prefix, ["alpha"])
    document["db_configs"]["participant_user_db"]["connection_str"] = "::::"
    config = write_config(tmp_path / "config.yaml", document)
    secret = "s3cr3t-Pa55word"

    refused = run_cli(
        [], config, tmp_path, PARTICIPANT_USER_DB_USERNAME="admin", PARTICIPANT_USER_DB_PASSWORD=secret
    )

    output = refused.stdout + refused.stderr
    assert refused.returncode == 2, output
    assert "db_configs.participant_user_db.connection_str: is not a valid MongoDB host list" in refused.stderr
    assert secret not in output and "Traceback" not in output
    assert not [name for name in mongo_client.list_database_names() if name.startswith(db_prefix)]
