"""The benchmark's baseline: the same work done the way the Go job does it (docs/tasks.md §0.3, §1, §2).

One cursor over the task's selection (batch size 32, whole user documents), then per user one query per
step: a fresh read, per profile a reload of all studies, per profile x study the participant, the rules and
the writes, the token, a template lookup per email, the email, the user update. The lookup does one
`find_one` and, when missing, one `insert_one` per profile x active study; the migration one `find_one` and
one replace per profile x tracking study. No journal, no batching, no
concurrency, as in Go. The documents written come from the same builders as ours, and the LEAVE rules run
in the same study engine, so the baseline and our tasks differ only in how they talk to the server.

`progress.users` counts finished users, so a time-capped run still yields a rate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bson import Int64, ObjectId

from usermgmt_pipeline.case.id_mapping import compute_participant_ids
from usermgmt_pipeline.case.messaging import outgoing_email_document
from usermgmt_pipeline.case.studies import decode_study
from usermgmt_pipeline.case.temp_tokens import (
    PURPOSE_CONTACT_VERIFICATION,
    PURPOSE_INACTIVE_USER_NOTIFICATION,
    new_token,
    token_document,
)
from usermgmt_pipeline.emails.templates import render_email
from usermgmt_pipeline.tasks import selection
from usermgmt_pipeline.tasks.context import TaskContext

GO_USER_BATCH_SIZE = 32


@dataclass
class Progress:
    users: int = 0


@dataclass
class BaselineInstance:
    """Raw collections of one instance, reached through the same config and clients as our tasks."""

    ctx: TaskContext

    @property
    def users(self) -> Any:
        return self.ctx.dbs.users_db(self.ctx.instance_id)

    @property
    def study_db(self) -> Any:
        return self.ctx.dbs.study_db(self.ctx.instance_id)

    @property
    def messages(self) -> Any:
        return self.ctx.dbs.messaging_db(self.ctx.instance_id)

    @property
    def temp_tokens(self) -> Any:
        return self.ctx.dbs.global_infos_db()["temp-tokens"]

    def iterate(self, chosen: Mapping[str, Any]) -> Any:
        return self.users["users"].find(chosen, batch_size=GO_USER_BATCH_SIZE)

    def queue_email(self, user: Mapping[str, Any], message_type: str, payload: dict[str, str]) -> None:
        """Go's QueueEmailByTemplate: fetch the template (every time), render, insert."""
        template = self.messages["email-templates"].find_one(
            {"messageType": message_type, "studyKey": {"$exists": False}}
        )
        if template is None:
            raise LookupError(f"template {message_type} missing")
        account = user.get("account") or {}
        email = render_email(
            template,
            instance_id=self.ctx.instance_id,
            language=str(account.get("preferredLanguage") or ""),
            payload=payload,
            constants=self.ctx.config.messaging_configs.global_email_template_constants,
        )
        self.messages["outgoing-emails"].insert_one(
            outgoing_email_document(
                doc_id=ObjectId(),
                message_type=message_type,
                user_id=str(user["_id"]),
                to=str(account.get("accountID") or ""),
                subject=email.subject,
                header_overrides=email.header_overrides,
                content=email.content,
                added_at=self.ctx.now_s(),
            )
        )


def generate_profile_id_lookup(inst: BaselineInstance, progress: Progress) -> dict[str, Any]:
    """Go §1.5: per profile x active study one find_one, and one insert_one when it is missing."""
    studies = [decode_study(d) for d in inst.study_db["study-infos"].find({"status": "active"})]
    id_map = inst.study_db["confidential-id-map"]
    created = 0
    for user in inst.iterate(selection.ALL_USERS):
        for profile in user.get("profiles") or []:
            profile_id = str(profile["_id"])
            for study in studies:
                cid = compute_participant_ids(
                    study.identity, profile_id, inst.ctx.global_secret
                ).confidential_id
                if id_map.find_one({"confidentialID": cid, "studyKey": study.key}) is None:
                    id_map.insert_one({"confidentialID": cid, "profileID": profile_id, "studyKey": study.key})
                    created += 1
        progress.users += 1
    return {"created": created}


def _notify(
    inst: BaselineInstance,
    progress: Progress,
    chosen: Mapping[str, Any],
    purpose: str,
    ttl_ns: int,
    message_type: str,
    timestamp_field: str,
    timestamp_value: Callable[[], int],
) -> dict[str, Any]:
    """Go §1.2/§1.3: token, email, user update; per user, in that order."""
    for user in inst.iterate(chosen):
        user_id = str(user["_id"])
        account = user.get("account") or {}
        token = new_token()
        inst.temp_tokens.insert_one(
            token_document(
                token=token,
                purpose=purpose,
                user_id=user_id,
                instance_id=inst.ctx.instance_id,
                email=str(account.get("accountID") or ""),
                ttl_ns=ttl_ns,
            )
        )
        inst.queue_email(user, message_type, {"token": token})
        inst.users["users"].update_one(
            {"_id": user["_id"]}, {"$set": {f"timestamps.{timestamp_field}": Int64(timestamp_value())}}
        )
        progress.users += 1
    return {}


def send_reminder_to_confirm_accounts(inst: BaselineInstance, progress: Progress) -> dict[str, Any]:
    umc = inst.ctx.config.user_management_config
    chosen = selection.unverified_to_remind(inst.ctx.before(int(umc.send_reminder_to_confirm_account_after)))
    return _notify(
        inst,
        progress,
        chosen,
        PURPOSE_CONTACT_VERIFICATION,
        int(umc.email_contact_verification_token_ttl),
        "registration",
        "reminderToConfirmSentAt",
        inst.ctx.now_s,
    )


def notify_inactive_users(inst: BaselineInstance, progress: Progress) -> dict[str, Any]:
    umc = inst.ctx.config.user_management_config
    grace = int(umc.mark_for_deletion_after_inactivity_notification)
    chosen = selection.inactive_to_notify(inst.ctx.before(int(umc.notify_after_inactive_for)))
    return _notify(
        inst,
        progress,
        chosen,
        PURPOSE_INACTIVE_USER_NOTIFICATION,
        grace,
        "account-inactivity",
        "markedForDeletion",
        lambda: inst.ctx.after(grace),
    )


def _delete_users(
    inst: BaselineInstance, progress: Progress, chosen: Mapping[str, Any], message_type: str
) -> dict[str, Any]:
    """Go §2.1 DeleteUser with §2.2 OnProfileDeleted, step by step, no journal."""
    from usermgmt_pipeline.tasks.study_runtime import ensure_leave_rules

    runner = ensure_leave_rules(inst.ctx)
    users = inst.users
    for cursor_user in inst.iterate(chosen):
        user = users["users"].find_one({"_id": cursor_user["_id"]})  # Go's fresh read
        if user is None:
            continue
        for profile in user.get("profiles") or []:
            profile_id = str(profile["_id"])
            for study in [decode_study(d) for d in inst.study_db["study-infos"].find({})]:
                outcome = runner.evaluate(study, profile_id)  # participant, rules, engine
                if outcome.participant is None or outcome.rule_error:
                    continue  # Go: no participant or failing rules -> next study, nothing erased
                runner.apply(outcome)  # state, reports, confidential responses, ID map
        inst.temp_tokens.delete_many({"instanceID": inst.ctx.instance_id, "userID": str(user["_id"])})
        users["renewTokens"].delete_many({"userID": str(user["_id"])})
        users["users"].delete_one({"_id": user["_id"]})
        users["userAttributes"].delete_many({"userId": user["_id"]})
        inst.queue_email(cursor_user, message_type, {})
        progress.users += 1
    return {}


def clean_up_unverified_users(inst: BaselineInstance, progress: Progress) -> dict[str, Any]:
    threshold = int(inst.ctx.config.user_management_config.delete_unverified_users_after)
    return _delete_users(
        inst, progress, selection.unverified_to_delete(inst.ctx.before(threshold)), "account-deleted"
    )


def delete_marked_users(inst: BaselineInstance, progress: Progress) -> dict[str, Any]:
    return _delete_users(
        inst, progress, selection.marked_to_delete(inst.ctx.now_s()), "account-deleted-after-inactivity"
    )


def migrate_account_info(inst: BaselineInstance, progress: Progress) -> dict[str, Any]:
    """Go §1.6: per user with an account ID, per profile x active tracking study, one `find_one` of the
    participant and, when `hashedAccountID` is missing, one find-one-and-replace."""
    from usermgmt_pipeline.case.id_mapping import main_and_other_profiles, profile_id_to_participant_id
    from usermgmt_pipeline.studyengine import Participant

    secret = inst.ctx.global_secret
    studies = [decode_study(d) for d in inst.study_db["study-infos"].find({"status": "active"})]
    tracking = [study for study in studies if study.track_account]
    migrated = 0
    for user in inst.iterate(selection.ALL_USERS):
        account_id = str((user.get("account") or {}).get("accountID") or "")
        profiles = [(str(p["_id"]), bool(p.get("mainProfile"))) for p in user.get("profiles") or []]
        if account_id:
            main_id, _ = main_and_other_profiles(profiles)
            for profile_id, _main in profiles:
                for study in tracking:
                    participant_id = compute_participant_ids(
                        study.identity, profile_id, secret
                    ).participant_id
                    participants = inst.study_db[f"{study.key}_participants"]
                    stored = participants.find_one({"participantID": participant_id})
                    if stored is None or stored.get("hashedAccountID") is not None:
                        continue
                    encoded = Participant.from_bson(stored).to_bson()
                    encoded["hashedAccountID"] = profile_id_to_participant_id(
                        account_id, secret, study.secret_key, study.id_mapping_method
                    )
                    encoded["isMainProfile"] = profile_id == main_id
                    encoded["modifiedAt"] = Int64(inst.ctx.now_s())
                    encoded.pop("_id", None)
                    participants.find_one_and_replace({"participantID": participant_id}, encoded, upsert=True)
                    migrated += 1
        progress.users += 1
    return {"migrated": migrated}


TASKS: dict[str, Callable[[BaselineInstance, Progress], dict[str, Any]]] = {
    "clean_up_unverified_users": clean_up_unverified_users,
    "send_reminder_to_confirm_accounts": send_reminder_to_confirm_accounts,
    "notify_inactive_users": notify_inactive_users,
    "delete_marked_users": delete_marked_users,
    "generate_profile_id_lookup": generate_profile_id_lookup,
    "migrate_account_info": migrate_account_info,
}
