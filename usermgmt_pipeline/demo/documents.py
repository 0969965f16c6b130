"""Builders for CASE documents with the exact field names and BSON types the Go services write (docs/case-data.md §3).

Used by the demo seed, the tests and the benchmark dataset generator, so every one of them writes data
that looks like a real deployment's: Int64 Unix seconds, ObjectId ids, hex-string references.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from bson import Int64, ObjectId


def user_document(
    *,
    account_id: str,
    created_at: int,
    confirmed_at: int = 0,
    language: str = "en",
    last_login: int = 0,
    last_token_refresh: int = 0,
    reminder_sent_at: int = 0,
    marked_for_deletion: int = 0,
    profiles: Sequence[tuple[ObjectId, bool]] = (),
    roles: Sequence[str] | None = None,
    user_id: ObjectId | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": user_id or ObjectId(),
        "account": {
            "type": "email",
            "accountID": account_id,
            "accountConfirmedAt": Int64(confirmed_at),
            "password": "$argon2id$v=19$m=65536,t=1,p=2$demo$demo",
            "preferredLanguage": language,
            "failedLoginAttempts": None,
            "passwordResetTriggers": None,
        },
        "timestamps": {
            "lastTokenRefresh": Int64(last_token_refresh),
            "lastLogin": Int64(last_login),
            "createdAt": Int64(created_at),
            "updatedAt": Int64(created_at),
            "lastPasswordChange": Int64(0),
            "reminderToConfirmSentAt": Int64(reminder_sent_at),
            "markedForDeletion": Int64(marked_for_deletion),
        },
        "profiles": [
            {
                "_id": pid,
                "alias": account_id.split("@")[0] + ("" if main else f"-{i}"),
                "consentConfirmedAt": Int64(created_at),
                "createdAt": Int64(created_at),
                "avatarID": "default",
                "mainProfile": main,
            }
            for i, (pid, main) in enumerate(profiles)
        ],
        "contactPreferences": {
            "subscribedToNewsletter": True,
            "sendNewsletterTo": None,
            "subscribedToWeekly": False,
            "receiveWeeklyMessageDayOfWeek": 2,  # int32, as Go writes it
        },
        "contactInfos": [
            {
                "_id": ObjectId(),
                "type": "email",
                "confirmedAt": Int64(confirmed_at),
                "confirmationLinkSentAt": Int64(0),
                "email": account_id,
            }
        ],
    }
    if roles is not None:
        doc["roles"] = list(roles)
    return doc


def email_template_document(
    message_type: str,
    translations: dict[str, tuple[str, str]],
    *,
    default_language: str = "en",
    header_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """translations: language -> (subject, Go html/template source)."""
    return {
        "_id": ObjectId(),
        "messageType": message_type,
        "defaultLanguage": default_language,
        "headerOverrides": header_overrides,
        "translations": [
            {
                "languageCode": lang,
                "subject": subject,
                "templateDef": base64.b64encode(source.encode("utf-8")).decode("ascii"),
            }
            for lang, (subject, source) in translations.items()
        ],
    }


def study_document(
    key: str,
    secret_key: str,
    *,
    status: str = "active",
    id_mapping_method: str | None = "sha256",
    track_account: bool = False,
) -> dict[str, Any]:
    configs: dict[str, Any] = {"participantFileUploadRule": None, "trackAccount": track_account}
    if id_mapping_method is not None:
        configs["idMappingMethod"] = id_mapping_method
    return {
        "_id": ObjectId(),
        "key": key,
        "secretKey": secret_key,
        "status": status,
        "props": {"systemDefaultStudy": False, "startDate": Int64(0), "endDate": Int64(0)},
        "configs": configs,
        "notificationSubscriptions": [],
    }


def participant_document(
    participant_id: str, *, status: str = "active", entered_at: int = 0, flags: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "participantID": participant_id,
        "currentStudySession": "",
        "modifiedAt": Int64(entered_at),
        "enteredAt": Int64(entered_at),
        "studyStatus": status,
        "flags": flags,
        "linkingCodes": None,
        "assignedSurveys": None,
        "lastSubmission": None,
        "messages": None,
    }


def study_rules_document(study_key: str, rules: list[dict[str, Any]], uploaded_at: int) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "studyKey": study_key,
        "uploadedAt": Int64(uploaded_at),
        "uploadedBy": "demo",
        "serialisedRules": json.dumps(rules),
    }


def str_arg(value: str) -> dict[str, Any]:
    return {"dtype": "str", "str": value}


def exp_arg(name: str, *args: dict[str, Any]) -> dict[str, Any]:
    return {"dtype": "exp", "exp": {"name": name, "data": list(args)}}


def on_leave(*actions: dict[str, Any]) -> dict[str, Any]:
    """`IFTHEN(checkEventType("LEAVE"), actions...)` as CASE's rule generators emit it."""
    return {"name": "IFTHEN", "data": [exp_arg("checkEventType", str_arg("LEAVE")), *actions]}
