"""Task 5: store the pseudonymised account ID and main-profile flag on participants of tracking studies (docs/tasks.md §1.6).

Go reads and replaces one participant at a time. Here the users come in batches (`orchestration.batch_size`,
read by one cursor like the lookup: the work per batch is short) and each tracking study costs one read of
the batch's participants and one bulk replace of those that need the fields. No journal is needed: a
participant that has `hashedAccountID` is never touched again, so a rerun after a kill converges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson.errors import InvalidBSON
from pymongo.errors import PyMongoError

from usermgmt_pipeline.case.id_mapping import (
    compute_participant_ids,
    main_and_other_profiles,
    profile_id_to_participant_id,
)
from usermgmt_pipeline.case.studies import Study
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.config.task_flags import MIGRATE_ACCOUNT_INFO
from usermgmt_pipeline.errors import UsermgmtError
from usermgmt_pipeline.studyengine import Participant
from usermgmt_pipeline.tasks import descriptions, selection
from usermgmt_pipeline.tasks.checkpoints import Step
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.declaration import TaskDeclaration
from usermgmt_pipeline.tasks.generate_profile_id_lookup import active_studies
from usermgmt_pipeline.tasks.iteration import database_unavailable, run_in_batches
from usermgmt_pipeline.tasks.preflight import require_global_secret
from usermgmt_pipeline.tasks.results import Outcome, TaskResult

TASK = MIGRATE_ACCOUNT_INFO.name


class MigrationError(UsermgmtError, RuntimeError):
    """Some of a user's participants could not be migrated (the others were)."""


def migrate_account_info(ctx: TaskContext) -> TaskResult:
    result = TaskResult(TASK, ctx.instance_id, dry_run=ctx.options.dry_run)
    require_global_secret(ctx, result)
    tracking = [s for s in active_studies(ctx, result) if s.track_account]
    result.extra["tracking_studies"] = [s.key for s in tracking]
    if not tracking:
        return result
    migrated = [0]

    def handle_batch(users: list[User]) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        errors: dict[str, list[str]] = {}
        eligible = []
        for user in users:
            if user.account_id:
                eligible.append(user)
            else:
                outcomes[user.id] = Outcome.skip("no account ID")
        for study in tracking:
            migrated[0] += _migrate_study(ctx, study, eligible, errors)
        for user_id, problems in errors.items():
            outcomes[user_id] = Outcome.fail(MigrationError("; ".join(problems)))
        return outcomes

    try:
        run_in_batches(ctx, TASK, selection.ALL_USERS, result, handle_batch, in_pages=False)
    finally:
        ctx.flush_audit()
    result.extra["migrated_participants"] = migrated[0]
    return result


def _migrate_study(
    ctx: TaskContext, study: Study, users: Sequence[User], errors: dict[str, list[str]]
) -> int:
    """Every profile of these users in one tracking study: one read, one bulk replace; returns how many
    participants were (or, in a dry run, would be) migrated. A pair that fails (an undecodable participant)
    fails its user after the rest are done, so one bad document never holds back anyone's other studies."""

    def fail(user: User, profile_id: str, exc: Exception) -> None:
        if isinstance(exc, PyMongoError) and database_unavailable(exc):
            raise exc
        errors.setdefault(user.id, []).append(
            f"study {study.key}, profile {profile_id}: {type(exc).__name__}: {exc}"
        )

    pairs: list[tuple[User, str, str]] = []  # (user, profile id, participant id)
    for user in users:
        for profile in user.profiles:
            try:
                ids = compute_participant_ids(study.identity, profile.id, ctx.global_secret)
            except Exception as exc:
                fail(user, profile.id, exc)
                continue
            pairs.append((user, profile.id, ids.participant_id))
    stored = _participants(ctx, study, pairs, fail)
    to_save: list[tuple[User, str, dict[str, Any]]] = []
    taken: set[str] = set()
    for user, profile_id, participant_id in pairs:
        doc = stored.get(participant_id)
        # A participant reachable from two users' profiles (hostile data) is migrated once, by the first, as
        # Go's one-by-one walk does: the second then finds it migrated.
        if doc is None or doc.get("hashedAccountID") is not None or participant_id in taken:
            continue
        taken.add(participant_id)
        main_id, _ = main_and_other_profiles([(p.id, p.main_profile) for p in user.profiles])
        try:
            encoded = Participant.from_bson(doc).to_bson()
            encoded["hashedAccountID"] = profile_id_to_participant_id(
                user.account_id, ctx.global_secret, study.secret_key, study.id_mapping_method
            )
        except Exception as exc:
            fail(user, profile_id, exc)
            continue
        encoded["isMainProfile"] = profile_id == main_id
        if "_id" in doc:  # replaced by the `_id` of the document just read (`save_participant_states`)
            encoded["_id"] = doc["_id"]
        to_save.append((user, profile_id, encoded))
    if ctx.options.dry_run:
        return len(to_save)
    saved = 0
    for part in ctx.write_parts(Step.MIGRATE_PARTICIPANT_SAVED, to_save):
        try:
            refused = ctx.studies.save_participant_states(study.key, [encoded for _, _, encoded in part])
        except Exception as exc:
            for user, profile_id, _ in part:
                fail(user, profile_id, exc)
            continue
        for index, (user, profile_id, _) in enumerate(part):
            if index in refused:
                fail(user, profile_id, RuntimeError(refused[index]))
            else:
                saved += 1
                ctx.hooks.checkpoint(Step.MIGRATE_PARTICIPANT_SAVED)
    return saved


def _participants(
    ctx: TaskContext,
    study: Study,
    pairs: Sequence[tuple[User, str, str]],
    fail: Callable[[User, str, Exception], None],
) -> Mapping[str, Mapping[str, Any]]:
    """The stored participants of these (user, profile, participant id) pairs by id, in one read; when one
    of them does not decode at all, one by one, so only its own user fails."""
    try:
        return ctx.studies.participants(study.key, [participant_id for _, _, participant_id in pairs])
    except InvalidBSON:
        pass
    found: dict[str, Mapping[str, Any]] = {}
    for user, profile_id, participant_id in pairs:
        try:
            doc = ctx.studies.participant(study.key, participant_id)
        except Exception as exc:
            fail(user, profile_id, exc)
            continue
        if doc is not None:
            found[participant_id] = doc
    return found


DECLARATION = TaskDeclaration(
    flag=MIGRATE_ACCOUNT_INFO,
    run=migrate_account_info,
    describe=descriptions.migrate_account_info,
    crash_points=(Step.MIGRATE_PARTICIPANT_SAVED,),
)
