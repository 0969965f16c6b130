"""What each task selects, with the configured thresholds, and what it writes: the assets' descriptions.

A newcomer opening the Dagster UI reads these first, so they carry the values of *this* config (not the
defaults) and name the collections touched. Plain markdown; Dagster-free. Each task's declaration names its
function here (`TaskDeclaration.describe`).
"""

from __future__ import annotations

from dataclasses import dataclass

from usermgmt_pipeline.config import AppConfig


@dataclass(frozen=True)
class Places:
    """The collections a description names, under this config's database prefixes."""

    users: str
    messages: str
    tokens: str
    study_db: str
    share: str

    @classmethod
    def of(cls, cfg: AppConfig) -> Places:
        dbs = cfg.db_configs
        return cls(
            users=f"`{dbs.participant_user_db.db_name_prefix}<instance>_users`",
            messages=f"`{dbs.messaging_db.db_name_prefix}<instance>_messageDB.outgoing-emails`",
            tokens=f"`{dbs.global_infos_db.db_name_prefix}global-infos.temp-tokens`",
            study_db=f"{dbs.study_db.db_name_prefix}<instance>_studyDB",
            share=f"{float(cfg.orchestration.max_deletion_share):.0%}",
        )


def deletion(cfg: AppConfig, email: str) -> str:
    """What deleting a selected user writes (both deleting tasks)."""
    p = Places.of(cfg)
    return (
        f"for each selected user: the user document and its `userAttributes` are deleted (only if still selected), every "
        f"study's LEAVE rules run for each profile, its participant state becomes `accountDeleted`, its "
        f"confidential responses and `confidential-id-map` entries are erased (`{p.study_db}`), its temp tokens "
        f"({p.tokens}) and `renewTokens` are deleted, and the `{email}` email is queued ({p.messages}). "
        f"The mass-deletion guard stops the run before its first deletion when, summed over all its deleting "
        f"tasks, more than {p.share} of the instance's users would go (`orchestration.max_deletion_share`)."
    )


def clean_up_unverified_users(cfg: AppConfig) -> str:
    umc = cfg.user_management_config
    return (
        f"**Selects** accounts never confirmed (`account.accountConfirmedAt` = 0) created more than "
        f"**{umc.delete_unverified_users_after}** ago (`user_management_config.delete_unverified_users_after`) "
        f"in {Places.of(cfg).users}.\n\n**Writes** " + deletion(cfg, "account-deleted")
    )


def send_reminder_to_confirm_accounts(cfg: AppConfig) -> str:
    umc = cfg.user_management_config
    p = Places.of(cfg)
    return (
        f"**Selects** unconfirmed accounts created more than **{umc.send_reminder_to_confirm_account_after}** "
        f"ago (`send_reminder_to_confirm_account_after`) that were never reminded, in {p.users}.\n\n"
        f"**Writes** a contact-verification temp token valid **{umc.email_contact_verification_token_ttl}** "
        f"({p.tokens}), queues the `registration` email ({p.messages}) and sets "
        f"`timestamps.reminderToConfirmSentAt`, once per account."
    )


def handle_inactive_users(cfg: AppConfig) -> str:
    umc = cfg.user_management_config
    p = Places.of(cfg)
    deleting = deletion(cfg, "account-deleted-after-inactivity")
    notify_after = umc.notify_after_inactive_for
    if not int(notify_after):
        return (
            "Inactivity notices are off (`notify_after_inactive_for` is 0); marked users whose time has passed "
            "are still deleted: " + deleting
        )
    return (
        f"**Selects** users without the SERVICE, RESEARCHER or ADMIN role whose last login and last token "
        f"refresh are both older than **{notify_after}** (`notify_after_inactive_for`) and who are not marked "
        f"yet. **Writes** an inactive-user temp token ({p.tokens}), queues the `account-inactivity` email "
        f"({p.messages}) and sets `timestamps.markedForDeletion` to now + **"
        f"{umc.mark_for_deletion_after_inactivity_notification}** "
        f"(`mark_for_deletion_after_inactivity_notification`) in {p.users}.\n\n"
        f"Then **selects** users whose `markedForDeletion` time has passed and deletes them: " + deleting
    )


def generate_profile_id_lookup(cfg: AppConfig) -> str:
    p = Places.of(cfg)
    return (
        f"**Selects** every profile of every user of the instance ({p.users}) and every active study.\n\n"
        f"**Deletes** first the entries of `{p.study_db}.confidential-id-map` whose profile no user holds any "
        f"more (left by deleted accounts; audited, under the mass-deletion guard: at most {p.share} of the "
        f"map's entries). **Writes** one entry per profile x active study (`confidentialID`, `profileID`, "
        f"`studyKey`) where it is missing. Two blocking checks follow: exactly one entry per profile x "
        f"active study, and no entry for a profile that no longer exists (entries of undecodable users are "
        f"kept and only reported)."
    )


def migrate_account_info(cfg: AppConfig) -> str:
    p = Places.of(cfg)
    return (
        f"**Selects** every user of the instance ({p.users}) and their participants in active studies with "
        f"`trackAccount` set.\n\n**Writes** `hashedAccountID` (the study's pseudonym of the account) and "
        f"`isMainProfile` on those participants in `{p.study_db}.<study>_participants` that lack them."
    )
