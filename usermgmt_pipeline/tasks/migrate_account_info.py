"""Task 5: store the pseudonymised account ID and main-profile flag on participants of tracking studies (docs/tasks.md §1.6)."""

from __future__ import annotations

import itertools

from pymongo.errors import PyMongoError

from usermgmt_pipeline.case.id_mapping import (
    compute_participant_ids,
    main_and_other_profiles,
    profile_id_to_participant_id,
)
from usermgmt_pipeline.case.studies import Study
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.studyengine import Participant
from usermgmt_pipeline.tasks import selection
from usermgmt_pipeline.tasks.checkpoints import checkpoint
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.generate_profile_id_lookup import active_studies
from usermgmt_pipeline.tasks.iteration import database_unavailable, run_per_user
from usermgmt_pipeline.tasks.preflight import require_global_secret
from usermgmt_pipeline.tasks.results import TaskResult

TASK = "migrate_account_info"


class MigrationError(RuntimeError):
    """Some of a user's participants could not be migrated (the others were)."""


def migrate_account_info(ctx: TaskContext) -> TaskResult:
    result = TaskResult(TASK, ctx.instance_id, dry_run=ctx.options.dry_run)
    require_global_secret(ctx, result)
    tracking = [s for s in active_studies(ctx, result) if s.track_account]
    result.extra["tracking_studies"] = [s.key for s in tracking]
    if not tracking:
        return result
    migrated = itertools.count()  # next() is atomic under the GIL: safe with user_workers > 1

    def migrate(user: User, profile_id: str, main_id: str, study: Study) -> None:
        ids = compute_participant_ids(study.identity, profile_id, ctx.global_secret)
        stored = ctx.studies.participant(study.key, ids.participant_id)
        if stored is None or stored.get("hashedAccountID") is not None:
            return
        if ctx.options.dry_run:
            next(migrated)
            return
        encoded = Participant.from_bson(stored).to_bson()
        encoded["hashedAccountID"] = profile_id_to_participant_id(
            user.account_id, ctx.global_secret, study.secret_key, study.id_mapping_method
        )
        encoded["isMainProfile"] = profile_id == main_id
        ctx.studies.save_participant_state(study.key, encoded)
        next(migrated)
        checkpoint("migrate:participant-saved")

    def handle(user: User) -> str | None:
        """Every profile x tracking study; one that fails (e.g. an undecodable participant) fails the user
        after the others are done, so one bad document never holds back the user's other studies."""
        if not user.account_id:
            return "no account ID"
        main_id, _ = main_and_other_profiles([(p.id, p.main_profile) for p in user.profiles])
        errors: list[str] = []
        for profile in user.profiles:
            for study in tracking:
                try:
                    migrate(user, profile.id, main_id, study)
                except Exception as exc:
                    if isinstance(exc, PyMongoError) and database_unavailable(exc):
                        raise
                    errors.append(f"study {study.key}, profile {profile.id}: {type(exc).__name__}: {exc}")
        if errors:
            raise MigrationError("; ".join(errors))
        return None

    try:
        run_per_user(ctx, TASK, selection.ALL_USERS, result, handle)
    finally:
        ctx.flush_audit()
    result.extra["migrated_participants"] = next(migrated)
    return result
