"""`case.studies`: the study database of an instance, reached through the configured connections."""

from __future__ import annotations

from pymongo import MongoClient

from usermgmt_pipeline.case.connections import CaseDatabases
from usermgmt_pipeline.case.studies import StudyCollections
from usermgmt_pipeline.config.models import DBConfigs
from usermgmt_pipeline.demo.documents import study_document
from usermgmt_pipeline_tests.case.test_connections import db_config, host_of


def test_the_active_study_keys_of_an_instance_come_from_its_own_prefixed_study_db(
    mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> None:
    host = host_of(mongo_uri)
    study_db = db_config(host, db_name_prefix=db_prefix).model_copy(update={"timeout": 7})
    configs = DBConfigs(
        participant_user_db=db_config(host),
        global_infos_db=db_config(host),
        messaging_db=db_config(host),
        study_db=study_db,
    )
    mongo_client[f"{db_prefix}alpha_studyDB"]["study-infos"].insert_many(
        [
            study_document("zeta", "s1"),
            study_document("flu", "s2"),
            study_document("paused", "s3", status="inactive"),
            study_document("", "s4"),
        ]
    )
    mongo_client[f"{db_prefix}beta_studyDB"]["study-infos"].insert_one(study_document("other", "s5"))
    dbs = CaseDatabases.connect(configs)
    try:
        alpha = StudyCollections.of_instance(dbs, "alpha")

        assert alpha.db.name == f"{db_prefix}alpha_studyDB"
        assert alpha.timeout == 7
        assert alpha.active_study_keys() == ["flu", "zeta"]
        assert StudyCollections.of_instance(dbs, "beta").active_study_keys() == ["other"]
    finally:
        dbs.close()
