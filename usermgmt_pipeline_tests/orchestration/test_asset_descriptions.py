"""Each asset's description says what it selects, with this config's thresholds, and what it writes."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey

from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.orchestration.build import build_definitions
from usermgmt_pipeline_tests.orchestration.helpers import config_document, write_config


def test_descriptions_carry_the_configured_thresholds_and_the_collections_written(tmp_path: Path) -> None:
    document = config_document(
        "mongodb://127.0.0.1:9/", "acme_", ["alpha"], orchestration={"max_deletion_share": 0.05}
    )
    document["user_management_config"].update(
        delete_unverified_users_after="100h",
        send_reminder_to_confirm_account_after="30h",
        email_contact_verification_token_ttl="12h",
        notify_after_inactive_for="4000h",
        mark_for_deletion_after_inactivity_notification="200h",
    )
    path = write_config(tmp_path / "c.yaml", document)
    defs = build_definitions(load_config(path), str(path))
    graph = defs.resolve_asset_graph()

    def description(name: str) -> str:
        return graph.get(AssetKey(name)).description or ""

    cleanup = description("clean_up_unverified_users")
    assert "**100h0m0s**" in cleanup and "`acme_<instance>_users`" in cleanup and "5%" in cleanup
    assert "`account-deleted`" in cleanup and "acme_<instance>_messageDB.outgoing-emails" in cleanup
    reminder = description("send_reminder_to_confirm_accounts")
    assert "**30h0m0s**" in reminder and "**12h0m0s**" in reminder and "`registration`" in reminder
    inactive = description("handle_inactive_users")
    assert "**4000h0m0s**" in inactive and "**200h0m0s**" in inactive
    assert "`account-deleted-after-inactivity`" in inactive
    assert "acme_<instance>_studyDB.confidential-id-map" in description("generate_profile_id_lookup")
    assert "hashedAccountID" in description("migrate_account_info")
