"""Seed a synthetic but realistic CASE dataset: users in every state each task selects or must leave alone
(threshold boundaries included), studies with each ID-mapping method, email templates in two languages and
study rules with LEAVE handlers. All documents come from `usermgmt_pipeline.demo.documents`.

Thresholds match `demo_config.yaml`: delete unverified after 168h, remind after 48h, inactive after 8760h,
grace 336h.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.case.id_mapping import StudyIdentity, compute_participant_ids
from usermgmt_pipeline.demo.case_indexes import create_case_indexes
from usermgmt_pipeline.demo.documents import (
    email_template_document,
    exp_arg,
    on_leave,
    participant_document,
    str_arg,
    study_document,
    study_rules_document,
    user_document,
)

HOUR = 3600
DELETE_UNVERIFIED_AFTER = 168 * HOUR
REMIND_AFTER = 48 * HOUR
INACTIVE_AFTER = 8760 * HOUR
GRACE = 336 * HOUR

TEMPLATE_SOURCES: dict[str, dict[str, tuple[str, str]]] = {
    "registration": {
        "en": (
            "Please confirm your account",
            "<p>Hello! Please confirm your {{.app_name}} account: "
            '<a href="{{.website_url}}/confirm?token={{.token}}&lang={{.language}}">confirm</a></p>',
        ),
        "de": (
            "Bitte bestätigen Sie Ihr Konto",
            "<p>Hallo! Bitte bestätigen Sie Ihr {{.app_name}}-Konto: "
            '<a href="{{.website_url}}/confirm?token={{.token}}&lang={{.language}}">bestätigen</a></p>',
        ),
    },
    "account-deleted": {
        "en": ("Your account was deleted", "<p>Your unconfirmed {{.app_name}} account has been deleted.</p>"),
        "de": ("Ihr Konto wurde gelöscht", "<p>Ihr unbestätigtes {{.app_name}}-Konto wurde gelöscht.</p>"),
    },
    "account-inactivity": {
        "en": (
            "Are you still there?",
            "<p>Log in to keep your account: "
            '<a href="{{.website_url}}/login?token={{.token}}">keep my account</a></p>',
        ),
        "de": (
            "Sind Sie noch da?",
            "<p>Melden Sie sich an, um Ihr Konto zu behalten: "
            '<a href="{{.website_url}}/login?token={{.token}}">Konto behalten</a></p>',
        ),
    },
    "account-deleted-after-inactivity": {
        "en": (
            "Your account was deleted",
            "<p>Your {{.app_name}} account was deleted after a long inactivity.</p>",
        ),
        "de": (
            "Ihr Konto wurde gelöscht",
            "<p>Ihr {{.app_name}}-Konto wurde wegen Inaktivität gelöscht.</p>",
        ),
    },
}

STUDIES = [
    ("influenzanet", "sha256", True),
    ("covid-cohort", None, False),  # no idMappingMethod: AES-CTR, the historical default
    ("pilot-same", "same", False),
    ("vaccination", "sha224-b64", False),
]


def leave_rules() -> list[dict[str, Any]]:
    return [
        on_leave(
            exp_arg("UPDATE_FLAG", str_arg("leftReason"), str_arg("accountDeleted")),
            exp_arg("INIT_REPORT", str_arg("leave")),
            exp_arg("UPDATE_REPORT_DATA", str_arg("leave"), str_arg("reason"), str_arg("account deleted")),
        )
    ]


@dataclass
class SeedSummary:
    instance_id: str
    users_by_state: dict[str, int] = field(default_factory=dict)


def seed_instance(
    client: MongoClient[dict[str, Any]],
    instance_id: str,
    *,
    db_prefix: str = "",
    global_secret: str,
    now: int | None = None,
) -> SeedSummary:
    """Write one instance's users, templates, studies, participants and rules (idempotent: drops first)."""
    now = int(time.time()) if now is None else now
    users_db = client[f"{db_prefix}{instance_id}_users"]
    messaging_db = client[f"{db_prefix}{instance_id}_messageDB"]
    study_db = client[f"{db_prefix}{instance_id}_studyDB"]
    for db in (users_db, messaging_db, study_db):
        client.drop_database(db.name)
    create_case_indexes(client, db_prefix, instance_id, [key for key, _m, _t in STUDIES] + ["closed-study"])

    messaging_db["email-templates"].insert_many(
        [
            email_template_document(
                mt,
                tr,
                header_overrides={
                    "from": "noreply@example.org",
                    "sender": "",
                    "replyTo": ["support@example.org"],
                    "noReplyTo": False,
                },
            )
            for mt, tr in TEMPLATE_SOURCES.items()
        ]
    )
    studies = [
        study_document(key, f"{key}-secret", id_mapping_method=m, track_account=t) for key, m, t in STUDIES
    ]
    studies.append(study_document("closed-study", "closed-secret", status="inactive"))
    study_db["study-infos"].insert_many(studies)
    for study in studies:
        study_db["studyRules"].insert_one(
            study_rules_document(study["key"], leave_rules(), now - 30 * 24 * HOUR)
        )

    states: list[tuple[str, dict[str, Any]]] = [
        ("unverified, due for deletion", dict(created_at=now - DELETE_UNVERIFIED_AFTER - HOUR)),
        ("unverified, 1s before the deletion threshold", dict(created_at=now - DELETE_UNVERIFIED_AFTER + 60)),
        ("unverified, due a reminder", dict(created_at=now - REMIND_AFTER - HOUR)),
        (
            "unverified, already reminded",
            dict(created_at=now - REMIND_AFTER - HOUR, reminder_sent_at=now - HOUR),
        ),
        ("unverified, too new for a reminder", dict(created_at=now - HOUR)),
        (
            "active",
            dict(
                created_at=now - 400 * 24 * HOUR,
                confirmed_at=now - 400 * 24 * HOUR,
                last_login=now - HOUR,
                last_token_refresh=now - HOUR,
            ),
        ),
        (
            "inactive, to be warned",
            dict(
                created_at=now - 800 * 24 * HOUR,
                confirmed_at=now - 800 * 24 * HOUR,
                last_login=now - INACTIVE_AFTER - HOUR,
                last_token_refresh=now - INACTIVE_AFTER - HOUR,
            ),
        ),
        (
            "inactive researcher (never warned)",
            dict(
                created_at=now - 800 * 24 * HOUR,
                confirmed_at=now - 800 * 24 * HOUR,
                last_login=now - INACTIVE_AFTER - HOUR,
                last_token_refresh=now - INACTIVE_AFTER - HOUR,
                roles=["RESEARCHER"],
            ),
        ),
        (
            "warned, grace period over",
            dict(
                created_at=now - 900 * 24 * HOUR,
                confirmed_at=now - 900 * 24 * HOUR,
                last_login=now - INACTIVE_AFTER - GRACE - HOUR,
                last_token_refresh=now - INACTIVE_AFTER - GRACE - HOUR,
                marked_for_deletion=now - HOUR,
            ),
        ),
        (
            "warned, still in grace period",
            dict(
                created_at=now - 900 * 24 * HOUR,
                confirmed_at=now - 900 * 24 * HOUR,
                last_login=now - INACTIVE_AFTER - HOUR,
                last_token_refresh=now - INACTIVE_AFTER - HOUR,
                marked_for_deletion=now + GRACE - HOUR,
            ),
        ),
    ]
    # Enough active users that the deletions stay under the default 10% mass-deletion guard.
    states += [("active", states[5][1])] * 25
    summary = SeedSummary(instance_id)
    for index, (state, fields) in enumerate(states):
        language = "de" if index % 2 else "en"
        profiles = [(ObjectId(), True)] + ([(ObjectId(), False)] if index % 3 == 0 else [])
        doc = user_document(
            account_id=f"{instance_id}.user{index}@example.org",
            language=language,
            profiles=profiles,
            **fields,
        )
        users_db["users"].insert_one(doc)
        users_db["userAttributes"].insert_one(
            {
                "_id": ObjectId(),
                "userId": doc["_id"],
                "type": "demo",
                "attributes": {},
                "createdAt": doc["_id"].generation_time,
            }
        )
        summary.users_by_state[state] = summary.users_by_state.get(state, 0) + 1
        for pid, _main in profiles:
            for study in studies[:2]:
                identity = StudyIdentity(
                    study["key"], study["secretKey"], study["configs"].get("idMappingMethod", "")
                )
                ids = compute_participant_ids(identity, str(pid), global_secret)
                study_db[f"{study['key']}_participants"].insert_one(
                    participant_document(ids.participant_id, entered_at=now - 24 * HOUR)
                )
                study_db[f"{study['key']}_confidentialResponses"].insert_one(
                    {
                        "_id": ObjectId(),
                        "key": "T0.Q1",
                        "participantID": ids.confidential_id,
                        "versionID": "v1",
                        "responses": [],
                        "context": None,
                    }
                )
    return summary
