"""Building a real config file, the database handles and a TaskContext for the task tests.

Every task test runs against the suite's real MongoDB-wire server; `db_prefix` (unique per test) is the
`db_name_prefix` of all four database configs, so tests never see each other's data. The clock of the
context is frozen at a whole second (`T0`) so threshold boundaries can be hit to the second.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from bson import ObjectId
from pymongo import MongoClient, monitoring
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import InvalidName, OperationFailure

from usermgmt_pipeline.case.connections import CaseDatabases
from usermgmt_pipeline.case.id_mapping import StudyIdentity, compute_participant_ids
from usermgmt_pipeline.case.studies import INVALID_NAMESPACE
from usermgmt_pipeline.config import AppConfig, load_config
from usermgmt_pipeline.demo.case_indexes import create_case_indexes, create_study_indexes
from usermgmt_pipeline.demo.documents import (
    email_template_document,
    participant_document,
    study_document,
    study_rules_document,
    user_document,
)
from usermgmt_pipeline.demo.seed import leave_rules
from usermgmt_pipeline.tasks.context import RunOptions, TaskContext

INSTANCE = "inst"
GLOBAL_SECRET = "test-global-secret"
HOUR = 3600
DELETE_UNVERIFIED_AFTER = 168 * HOUR
REMIND_AFTER = 48 * HOUR
TOKEN_TTL = 48 * HOUR
INACTIVE_AFTER = 8760 * HOUR
GRACE = 336 * HOUR
ALL_TASKS = (
    "clean_up_unverified_users",
    "send_reminder_to_confirm_accounts",
    "handle_inactive_users",
    "generate_profile_id_lookup",
    "migrate_account_info",
)
TEMPLATE_BODIES = {
    "registration": (
        "Confirm your account",
        '<p>Hi! <a href="{{.url}}/confirm?token={{.token}}">confirm</a> {{.language}}</p>',
    ),
    "account-deleted": ("Account deleted", "<p>Your {{.app_name}} account was deleted ({{.language}}).</p>"),
    "account-inactivity": ("Still there?", '<p><a href="{{.url}}/login?token={{.token}}">keep it</a></p>'),
    "account-deleted-after-inactivity": ("Deleted after inactivity", "<p>{{.app_name}}: deleted.</p>"),
}
LEAVE_RULES = leave_rules()  # IFTHEN(LEAVE): UPDATE_FLAG leftReason, INIT_REPORT leave, UPDATE_REPORT_DATA
CONSTANTS = {"app_name": "Test & Co", "url": "https://example.org"}
LEASE = "2s"
"""A short instance lease: a SIGKILLed worker blocks the rerun only this long (`wait_for_lease_expiry`)."""


def wait_for_lease_expiry(client: MongoClient, prefix: str, timeout_s: float = 30) -> None:
    """Wait until no unexpired instance lease is left (e.g. by a SIGKILLed worker, which never releases)."""
    locks = client[f"{prefix}usermgmt-pipeline"]["locks"]
    deadline = time.monotonic() + timeout_s
    while locks.count_documents({"expiresAt": {"$gt": time.time()}}):
        assert time.monotonic() < deadline, "an instance lease did not expire"
        time.sleep(0.2)


def host_of(uri: str) -> str:
    return uri.removeprefix("mongodb://").rstrip("/")


def config_document(
    mongo_uri: str,
    db_prefix: str,
    *,
    run_tasks: Iterable[str] = ALL_TASKS,
    user_management: Mapping[str, str] | None = None,
    max_deletion_share: float = 1.0,
    use_no_cursor_timeout: bool = False,
    global_secret: str = GLOBAL_SECRET,
    instance_lease: str = LEASE,
    batch_size: int | None = None,
    min_guarded_orphan_entries: int | None = None,
) -> dict[str, Any]:
    db = {
        "connection_str": host_of(mongo_uri),
        "username": "",
        "password": "",
        "timeout": 10,
        "idle_conn_timeout": 45,
        "max_pool_size": 4,
        "use_no_cursor_timeout": use_no_cursor_timeout,
        "db_name_prefix": db_prefix,
    }
    umc = {
        "delete_unverified_users_after": f"{DELETE_UNVERIFIED_AFTER // HOUR}h",
        "send_reminder_to_confirm_account_after": f"{REMIND_AFTER // HOUR}h",
        "email_contact_verification_token_ttl": f"{TOKEN_TTL // HOUR}h",
        "notify_after_inactive_for": f"{INACTIVE_AFTER // HOUR}h",
        "mark_for_deletion_after_inactivity_notification": f"{GRACE // HOUR}h",
    }
    umc.update(user_management or {})
    return {
        "db_configs": {
            k: dict(db) for k in ("participant_user_db", "global_infos_db", "messaging_db", "study_db")
        },
        "instance_ids": [INSTANCE],
        "user_management_config": umc,
        "messaging_configs": {"global_email_template_constants": dict(CONSTANTS)},
        "study_configs": {"global_secret": global_secret},
        "run_tasks": {task: task in set(run_tasks) for task in ALL_TASKS},
        "orchestration": {
            "max_deletion_share": max_deletion_share,
            "instance_lease": instance_lease,
            **({"batch_size": batch_size} if batch_size is not None else {}),
            **(
                {"min_guarded_orphan_entries": min_guarded_orphan_entries}
                if min_guarded_orphan_entries is not None
                else {}
            ),
        },
    }


def write_config(path: Path, document: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")
    return path


@dataclass
class CaseEnv:
    """One test's CASE deployment: config, connected databases, direct collection handles, frozen clock."""

    config: AppConfig
    config_path: Path
    dbs: CaseDatabases
    client: MongoClient
    prefix: str
    t0: int = field(default_factory=lambda: int(time.time()))

    # --- direct handles (what the assertions read) ---
    @property
    def users_db(self) -> Database:
        return self.client[f"{self.prefix}{INSTANCE}_users"]

    @property
    def users(self) -> Collection:
        return self.users_db["users"]

    @property
    def user_attributes(self) -> Collection:
        return self.users_db["userAttributes"]

    @property
    def renew_tokens(self) -> Collection:
        return self.users_db["renewTokens"]

    @property
    def temp_tokens(self) -> Collection:
        return self.client[f"{self.prefix}global-infos"]["temp-tokens"]

    @property
    def messaging_db(self) -> Database:
        return self.client[f"{self.prefix}{INSTANCE}_messageDB"]

    @property
    def outgoing(self) -> Collection:
        return self.messaging_db["outgoing-emails"]

    @property
    def study_db(self) -> Database:
        return self.client[f"{self.prefix}{INSTANCE}_studyDB"]

    @property
    def id_map(self) -> Collection:
        return self.study_db["confidential-id-map"]

    @property
    def journal(self) -> Collection:
        return self.client[f"{self.prefix}usermgmt-pipeline"]["journal"]

    # --- building contexts ---
    def context(
        self, *, dry_run: bool = False, allow_mass_deletion: bool = False, t0: int | None = None
    ) -> TaskContext:
        frozen_ns = (self.t0 if t0 is None else t0) * 1_000_000_000
        return TaskContext(
            config=self.config,
            dbs=self.dbs,
            instance_id=INSTANCE,
            options=RunOptions(dry_run=dry_run, allow_mass_deletion=allow_mass_deletion),
            now_ns=lambda: frozen_ns,
        )

    # --- seeding ---
    def add_user(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("account_id", f"{ObjectId()}@example.org")
        fields.setdefault("created_at", self.t0 - 1000 * HOUR)
        doc = user_document(**fields)
        self.users.insert_one(doc)
        return doc

    def add_raw_user(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.users.insert_one(doc)
        return doc

    def add_templates(self, message_types: Sequence[str] = tuple(TEMPLATE_BODIES)) -> None:
        self.messaging_db["email-templates"].insert_many(
            [
                email_template_document(
                    mt,
                    {
                        "en": TEMPLATE_BODIES[mt],
                        "de": (TEMPLATE_BODIES[mt][0] + " (de)", TEMPLATE_BODIES[mt][1]),
                    },
                    header_overrides={
                        "from": "noreply@example.org",
                        "sender": "",
                        "replyTo": ["help@example.org"],
                        "noReplyTo": False,
                    },
                )
                for mt in message_types
            ]
        )

    def add_study(
        self,
        key: str,
        *,
        method: str | None = "sha256",
        status: str = "active",
        track_account: bool = False,
        rules: list[dict[str, Any]] | None = LEAVE_RULES,
        secret: str | None = None,
    ) -> dict[str, Any]:
        """A study; by default with a rules document whose LEAVE handler sets a flag and creates a report."""
        doc = study_document(
            key,
            secret or f"{key}-secret",
            status=status,
            id_mapping_method=method,
            track_account=track_account,
        )
        self.study_db["study-infos"].insert_one(doc)
        try:
            create_study_indexes(self.client, self.prefix, INSTANCE, key)
        except InvalidName:
            pass  # a key that cannot name a collection (a hostile-data test): it holds no documents either
        except OperationFailure as exc:
            if exc.code != INVALID_NAMESPACE:
                raise
        if rules is not None:
            self.study_db["studyRules"].insert_one(study_rules_document(key, rules, self.t0 - 86400))
        return doc

    def ids(self, study: Mapping[str, Any], profile_id: ObjectId | str) -> tuple[str, str]:
        identity = StudyIdentity(
            study["key"], study["secretKey"], study["configs"].get("idMappingMethod") or ""
        )
        global_secret = self.config.study_configs.global_secret.get_secret_value()
        ids = compute_participant_ids(identity, str(profile_id), global_secret)
        return ids.participant_id, ids.confidential_id

    def add_participant(self, study: Mapping[str, Any], profile_id: ObjectId, **fields: Any) -> str:
        participant_id, _ = self.ids(study, profile_id)
        self.study_db[f"{study['key']}_participants"].insert_one(
            participant_document(participant_id, **fields)
        )
        return participant_id

    def add_confidential_response(
        self, study: Mapping[str, Any], profile_id: ObjectId, key: str = "T0.Q1"
    ) -> str:
        _, confidential_id = self.ids(study, profile_id)
        self.study_db[f"{study['key']}_confidentialResponses"].insert_one(
            {
                "_id": ObjectId(),
                "key": key,
                "participantID": confidential_id,
                "versionID": "v1",
                "responses": [],
                "context": None,
            }
        )
        return confidential_id

    def add_id_map_entry(self, study: Mapping[str, Any], profile_id: ObjectId) -> str:
        _, confidential_id = self.ids(study, profile_id)
        self.id_map.insert_one(
            {"confidentialID": confidential_id, "profileID": str(profile_id), "studyKey": study["key"]}
        )
        return confidential_id

    def add_related_records(self, user: Mapping[str, Any]) -> None:
        """Attributes, renew tokens and temp tokens of a user (plus another user's, which must survive)."""
        hex_id = str(user["_id"])
        self.user_attributes.insert_one(
            {"_id": ObjectId(), "userId": user["_id"], "type": "t", "attributes": {}}
        )
        self.renew_tokens.insert_one({"userID": hex_id, "sessionID": "s", "renewToken": f"r-{hex_id}"})
        self.temp_tokens.insert_one(
            {"token": f"t-{hex_id}", "purpose": "password-reset", "userID": hex_id, "instanceID": INSTANCE}
        )
        self.temp_tokens.insert_one(
            {"token": f"o-{hex_id}", "purpose": "password-reset", "userID": hex_id, "instanceID": "other"}
        )

    def close(self) -> None:
        self.dbs.close()


def make_env(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str, **config_options: Any
) -> CaseEnv:
    path = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, **config_options))
    config = load_config(path, env={})
    create_case_indexes(mongo_client, db_prefix, INSTANCE)
    return CaseEnv(
        config=config,
        config_path=path,
        dbs=CaseDatabases.connect(config.db_configs),
        client=mongo_client,
        prefix=db_prefix,
    )


class CommandLog(monitoring.CommandListener):
    """(command, collection) of every command sent while `recording`, for tests of round trips per batch.

    pymongo fixes a client's listeners when it is created and cannot unregister a global one, so one
    instance is registered for the test process (`COMMAND_LOG`); use it with clients created afterwards.
    """

    def __init__(self) -> None:
        self.recording = False
        self.commands: list[tuple[str, str]] = []

    def started(self, event: Any) -> None:
        if self.recording:
            target = event.command.get(event.command_name)
            self.commands.append((event.command_name, target if isinstance(target, str) else ""))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


COMMAND_LOG = CommandLog()
monitoring.register(COMMAND_LOG)


def run_counting_commands(env: CaseEnv, task: Any) -> tuple[Any, list[tuple[str, str]]]:
    """Run `task` on fresh clients (so they carry `COMMAND_LOG`); returns its result and its commands."""
    dbs = CaseDatabases.connect(env.config.db_configs)
    frozen_ns = env.t0 * 1_000_000_000
    COMMAND_LOG.commands, COMMAND_LOG.recording = [], True
    try:
        return task(TaskContext(env.config, dbs, INSTANCE, now_ns=lambda: frozen_ns)), COMMAND_LOG.commands
    finally:
        COMMAND_LOG.recording = False
        dbs.close()
