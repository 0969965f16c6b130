"""What each task selects, with the configured thresholds, and what it writes: the assets' descriptions.

A newcomer opening the Dagster UI reads these first, so they carry the values of *this* config (not the
defaults) and name the collections touched. Plain markdown; Dagster-free.
"""

from __future__ import annotations

from typing import Any


def task_descriptions(cfg: Any) -> dict[str, str]:
    """`run_tasks` flag -> markdown description for one loaded config."""
    umc = cfg.user_management_config
    users = f"`{cfg.db_configs.participant_user_db.db_name_prefix}<instance>_users`"
    messages = f"`{cfg.db_configs.messaging_db.db_name_prefix}<instance>_messageDB.outgoing-emails`"
    tokens = f"`{cfg.db_configs.global_infos_db.db_name_prefix}global-infos.temp-tokens`"
    study_db = f"{cfg.db_configs.study_db.db_name_prefix}<instance>_studyDB"
    studies = f"`{study_db}`"
    share = f"{float(cfg.orchestration.max_deletion_share):.0%}"
    deletion = (
        f"for each selected user: the user document and its `userAttributes` are deleted (only if still selected), every "
        f"study's LEAVE rules run for each profile, its participant state becomes `accountDeleted`, its "
        f"confidential responses and `confidential-id-map` entries are erased ({studies}), its temp tokens "
        f"({tokens}) and `renewTokens` are deleted, and the {{email}} email is queued ({messages}). "
        f"The mass-deletion guard stops the run before its first deletion when, summed over all its deleting "
        f"tasks, more than {share} of the instance's users would go (`orchestration.max_deletion_share`)."
    )
    notify_after = umc.notify_after_inactive_for
    inactivity = (
        f"**Selects** users without the SERVICE, RESEARCHER or ADMIN role whose last login and last token "
        f"refresh are both older than **{notify_after}** (`notify_after_inactive_for`) and who are not marked "
        f"yet. **Writes** an inactive-user temp token ({tokens}), queues the `account-inactivity` email "
        f"({messages}) and sets `timestamps.markedForDeletion` to now + **"
        f"{umc.mark_for_deletion_after_inactivity_notification}** "
        f"(`mark_for_deletion_after_inactivity_notification`) in {users}.\n\n"
        f"Then **selects** users whose `markedForDeletion` time has passed and deletes them: "
        + deletion.format(email="`account-deleted-after-inactivity`")
        if int(notify_after)
        else "Inactivity notices are off (`notify_after_inactive_for` is 0); marked users whose time has passed "
        "are still deleted: " + deletion.format(email="`account-deleted-after-inactivity`")
    )
    return {
        "clean_up_unverified_users": (
            f"**Selects** accounts never confirmed (`account.accountConfirmedAt` = 0) created more than "
            f"**{umc.delete_unverified_users_after}** ago (`user_management_config.delete_unverified_users_after`) "
            f"in {users}.\n\n**Writes** " + deletion.format(email="`account-deleted`")
        ),
        "send_reminder_to_confirm_accounts": (
            f"**Selects** unconfirmed accounts created more than **{umc.send_reminder_to_confirm_account_after}** "
            f"ago (`send_reminder_to_confirm_account_after`) that were never reminded, in {users}.\n\n"
            f"**Writes** a contact-verification temp token valid **{umc.email_contact_verification_token_ttl}** "
            f"({tokens}), queues the `registration` email ({messages}) and sets "
            f"`timestamps.reminderToConfirmSentAt`, once per account."
        ),
        "handle_inactive_users": inactivity,
        "generate_profile_id_lookup": (
            f"**Selects** every profile of every user of the instance ({users}) and every active study.\n\n"
            f"**Deletes** first the entries of `{study_db}.confidential-id-map` whose profile no user holds any "
            f"more (left by deleted accounts; audited, under the mass-deletion guard: at most {share} of the "
            f"map's entries). **Writes** one entry per profile x active study (`confidentialID`, `profileID`, "
            f"`studyKey`) where it is missing. Two blocking checks follow: exactly one entry per profile x "
            f"active study, and no entry for a profile that no longer exists (entries of undecodable users are "
            f"kept and only reported)."
        ),
        "migrate_account_info": (
            f"**Selects** every user of the instance ({users}) and their participants in active studies with "
            f"`trackAccount` set.\n\n**Writes** `hashedAccountID` (the study's pseudonym of the account) and "
            f"`isMainProfile` on those participants in `{study_db}.<study>_participants` that lack them."
        ),
    }
