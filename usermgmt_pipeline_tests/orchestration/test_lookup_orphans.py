"""Legacy confidential-ID map data in a whole job run: orphans of deleted accounts no longer block the migration."""

from __future__ import annotations

from pathlib import Path

from bson import ObjectId
from dagster import AssetCheckSeverity, DagsterInstance
from pymongo import MongoClient

from usermgmt_pipeline.case.connections import CaseDatabases
from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.demo.documents import user_document
from usermgmt_pipeline.orchestration.build import LOOKUP_JOB, USER_MANAGEMENT_JOB, build_definitions
from usermgmt_pipeline.orchestration.checks import NO_ORPHANS_CHECK, ONE_ENTRY_CHECK, evaluate_lookup_checks
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.generate_profile_id_lookup import lookup_consistency

STUDIES = ("influenzanet", "covid-cohort")


def execute(config_path: Path, instance: DagsterInstance, job_name: str):  # type: ignore[no-untyped-def]
    defs = build_definitions(load_config(config_path), str(config_path))
    return defs.resolve_job_def(job_name).execute_in_process(
        partition_key="alpha", instance=instance, raise_on_error=False
    )


def add_legacy_data(client: MongoClient, prefix: str) -> tuple[list[str], str]:
    """What a Go-run instance carries: entries of deleted accounts, and an account its decoder refuses.

    Returns the orphans' profile ids and the undecodable user's profile id.
    """
    id_map = client[f"{prefix}alpha_studyDB"]["confidential-id-map"]
    deleted_profiles = [str(ObjectId()) for _ in range(3)]
    id_map.insert_many(
        [
            {"confidentialID": f"left-by-{pid}-{study}", "profileID": pid, "studyKey": study}
            for pid in deleted_profiles
            for study in STUDIES
        ]
    )
    profile = ObjectId()
    user = user_document(account_id="legacy@example.org", created_at=0, profiles=[(profile, True)])
    user["timestamps"]["createdAt"] = "2019-03-01"  # a string: the user cannot be decoded, and still exists
    client[f"{prefix}alpha_users"]["users"].insert_one(user)
    id_map.insert_many(
        [
            {"confidentialID": f"kept-{study}", "profileID": str(profile), "studyKey": study}
            for study in STUDIES
        ]
    )
    return deleted_profiles, str(profile)


def test_legacy_orphans_are_removed_and_migrate_account_info_runs(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    assert execute(config_path, dagster_instance, LOOKUP_JOB).success  # the map as Go's lookup left it
    deleted_profiles, undecodable_profile = add_legacy_data(mongo_client, db_prefix)
    id_map = mongo_client[f"{db_prefix}alpha_studyDB"]["confidential-id-map"]

    result = execute(config_path, dagster_instance, USER_MANAGEMENT_JOB)

    assert result.success
    assert result.asset_materializations_for_node("migrate_account_info")
    assert id_map.count_documents({"profileID": {"$in": deleted_profiles}}) == 0
    assert id_map.count_documents({"profileID": undecodable_profile}) == 2
    [lookup] = result.asset_materializations_for_node("generate_profile_id_lookup")
    assert lookup.metadata["orphan_entries"].value == 6
    assert lookup.metadata["orphan_entries_removed"].value == 6
    assert sorted(lookup.metadata["orphan_profile_sample"].value) == sorted(deleted_profiles)
    audit = mongo_client[f"{db_prefix}usermgmt-pipeline"]["audit"]
    removals = list(audit.find({"runID": result.run_id, "action": "remove-orphan-id-map-entry"}))
    assert sorted(r["details"]["profileID"] for r in removals) == sorted(deleted_profiles * 2)
    assert {r["details"]["studyKey"] for r in removals} == set(STUDIES) and {
        r["outcome"] for r in removals
    } == {"done"}

    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks[ONE_ENTRY_CHECK].passed
    kept = checks[NO_ORPHANS_CHECK]
    assert not kept.passed and kept.severity == AssetCheckSeverity.WARN  # reported, not blocking
    assert kept.metadata["orphans"].value == 0
    assert kept.metadata["undecodable_user_entries"].value == 2
    named = kept.metadata["undecodable_user_entries_sample"].value
    assert {(n["profileID"], n["studyKey"]) for n in named} == {(undecodable_profile, s) for s in STUDIES}


def test_an_orphan_left_after_the_lookup_step_fails_the_blocking_check_with_error(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    """One that appears after the lookup removed the others (an account deleted meanwhile) blocks this run;
    the next run's lookup removes it."""
    assert execute(config_path, dagster_instance, LOOKUP_JOB).success
    id_map = mongo_client[f"{db_prefix}alpha_studyDB"]["confidential-id-map"]
    id_map.insert_one({"confidentialID": "late", "profileID": str(ObjectId()), "studyKey": "influenzanet"})
    config = load_config(config_path)
    dbs = CaseDatabases.connect(config.db_configs)
    try:
        scan = lookup_consistency(TaskContext(config, dbs, "alpha"))
    finally:
        dbs.close()

    one_entry, no_orphans = evaluate_lookup_checks(scan, dry_run=False)

    assert one_entry.passed
    assert not no_orphans.passed and no_orphans.severity == AssetCheckSeverity.ERROR
    assert no_orphans.metadata["orphans"].value == 1
    assert id_map.count_documents({"confidentialID": "late"}) == 1  # a check only reads
