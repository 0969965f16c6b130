"""Task 4: an entry in `confidential-id-map` for every profile x active study (docs/tasks.md §1.5), computed in bulk.

Go does one find and (if missing) one insert per profile x study. We read users in batches (profile ids
only; one getMore per 1000 users) and compute the confidential IDs for the batch. Before the walk, one
streamed read of the map's keys (8 bytes per entry, see `IdMapDigests`) tells which entries exist already;
those are counted as present and never sent, so a rerun with nothing new writes nothing. The rest: where
CASE's unique (confidentialID, studyKey) index exists, we insert the batch with one unordered bulk write
and count the server's duplicate-key rejections (a concurrent writer) as "already present"; without that
index we first ask once per study and batch which entries exist (`$in`) and insert only the missing ones.
Either way the resulting documents are Go's. Memory: the batch, plus 8 bytes per existing map entry.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from usermgmt_pipeline.case.id_mapping import compute_participant_ids
from usermgmt_pipeline.case.studies import IdMapDigests, Study, StudyDecodeError, decode_study
from usermgmt_pipeline.config.task_flags import GENERATE_PROFILE_ID_LOOKUP
from usermgmt_pipeline.tasks import descriptions, selection
from usermgmt_pipeline.tasks.checkpoints import Step
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.declaration import Column, TableSpec, TaskDeclaration
from usermgmt_pipeline.tasks.id_map_scan import DerivedIds, IdMapScan, scan_id_map
from usermgmt_pipeline.tasks.iteration import selected_users
from usermgmt_pipeline.tasks.orphan_id_map_entries import ORPHAN_ENTRIES, remove_orphan_entries
from usermgmt_pipeline.tasks.preflight import require_global_secret
from usermgmt_pipeline.tasks.results import TableReport, TaskResult

TASK = GENERATE_PROFILE_ID_LOOKUP.name
ID_MAP_TABLE = TableSpec(
    columns=(
        Column("_id", "ObjectId", "generated on insert"),
        Column("confidentialID", "string", "the profile's confidential ID in the study"),
        Column("profileID", "string", "the profile's hex id"),
        Column("studyKey", "string", "the study's key"),
    ),
    constraints=("unique (confidentialID, studyKey): CASE's confidentialID_1_studyKey_1",),
)
"""`<p><iid>_studyDB.confidential-id-map`, the table the lookup maintains (docs/case-data.md §3.9)."""
BATCH_PROFILES = 1000

_derived_by_run: dict[tuple[str, str], DerivedIds] = {}
"""(run id, instance) -> the IDs that run's lookup derived, until its checks take them (`lookup_consistency`).
At most a few runs' worth: an entry whose checks never ran (a failed run) is dropped by the next lookup."""
_KEPT_RUNS = 4


@dataclass
class StudyLookupStats:
    created: int = 0
    already_present: int = 0
    errors: list[str] = field(default_factory=list)


def active_studies(ctx: TaskContext, result: TaskResult) -> list[Study]:
    studies = []
    for doc in ctx.studies.studies("active"):
        try:
            studies.append(decode_study(doc))
        except StudyDecodeError as exc:
            result.fail(str(doc.get("key") or doc.get("_id")), f"undecodable study: {exc}")
    return studies


def add_missing_entries(ctx: TaskContext) -> TaskResult:
    """The lookup's second half: one entry per profile x active study where it is missing."""
    started = time.monotonic()
    result = TaskResult(TASK, ctx.instance_id, dry_run=ctx.options.dry_run)
    require_global_secret(ctx, result)
    studies = active_studies(ctx, result)
    stats = {study.key: StudyLookupStats() for study in studies}
    batch: list[tuple[str, str]] = []  # (user id, profile id)

    unique_index = ctx.studies.id_map_is_unique_indexed()
    result.extra["unique_index"] = unique_index
    existing = ctx.studies.id_map_digests()
    derived = DerivedIds()

    def flush() -> None:
        _process_batch(ctx, studies, batch, stats, unique_index, existing, derived)
        batch.clear()

    for user in selected_users(ctx, TASK, selection.ALL_USERS, result, fetch_batch_size=ctx.batch_size):
        batch.extend((user.id, profile.id) for profile in user.profiles)
        result.done += 1
        if len(batch) >= BATCH_PROFILES:
            flush()
    flush()
    while len(_derived_by_run) >= _KEPT_RUNS:
        _derived_by_run.pop(next(iter(_derived_by_run)))
    _derived_by_run[(ctx.options.run_id, ctx.instance_id)] = derived
    result.per_study = {
        key: {"created": s.created, "already_present": s.already_present} for key, s in stats.items()
    }
    result.extra["created"] = sum(s.created for s in stats.values())
    result.extra["already_present"] = sum(s.already_present for s in stats.values())
    result.extra["duration_s"] = round(time.monotonic() - started, 3)
    for key, s in stats.items():
        for error in s.errors:
            result.fail(key, error)
    return result


def _process_batch(
    ctx: TaskContext,
    studies: Iterable[Study],
    batch: list[tuple[str, str]],
    stats: dict[str, StudyLookupStats],
    unique_index: bool,
    existing: IdMapDigests,
    derived: DerivedIds,
) -> None:
    if not batch:
        return
    for study in studies:
        wanted: dict[str, str] = {}
        for _user_id, profile_id in batch:
            ids = compute_participant_ids(study.identity, profile_id, ctx.global_secret)
            derived.add(study.key, profile_id, ids.confidential_id)
            if (study.key, ids.confidential_id) in existing:
                stats[study.key].already_present += ids.confidential_id not in wanted
                wanted.setdefault(ids.confidential_id, "")
                continue
            wanted.setdefault(ids.confidential_id, profile_id)
        wanted = {cid: pid for cid, pid in wanted.items() if pid}
        if not wanted:
            continue
        entries = [
            {"confidentialID": cid, "profileID": pid, "studyKey": study.key} for cid, pid in wanted.items()
        ]
        if unique_index and not ctx.options.dry_run:
            ctx.lease.check(Step.LOOKUP_BATCH_INSERTED)
            inserted, duplicates, errors = ctx.studies.insert_id_map_entries(entries)
            stats[study.key].already_present += duplicates
        else:
            present = ctx.studies.existing_confidential_ids(study.key, list(wanted))
            missing = [e for e in entries if e["confidentialID"] not in present]
            stats[study.key].already_present += len(present)
            if ctx.options.dry_run:
                stats[study.key].created += len(missing)  # would be created
                continue
            ctx.lease.check(Step.LOOKUP_BATCH_INSERTED)
            inserted, duplicates, errors = ctx.studies.insert_id_map_entries(missing)
            stats[study.key].already_present += duplicates  # written by a concurrent writer meanwhile
        stats[study.key].created += inserted
        stats[study.key].errors.extend(errors)
        ctx.hooks.checkpoint(Step.LOOKUP_BATCH_INSERTED)


def generate_profile_id_lookup(ctx: TaskContext) -> TaskResult:
    """The run's lookup step: remove the entries of deleted accounts (guarded), then add the missing ones.

    Orphans go first, so an entry that a deleted account left under a live profile's confidential ID (which
    the unique index would keep the lookup from adding) is replaced in the same run.
    """
    cleanup = TaskResult(TASK, ctx.instance_id, dry_run=ctx.options.dry_run)
    remove_orphan_entries(ctx, cleanup)
    result = add_missing_entries(ctx)
    result.extra.update(cleanup.extra)
    result.guard = cleanup.guard
    table = TableReport(ctx.studies.id_map_table_name, ctx.studies.id_map_size())
    result.extra["id_map_table"] = table.name
    result.extra["id_map_entries"] = table.rows
    result.table = table
    return result


def lookup_consistency(ctx: TaskContext) -> IdMapScan:
    """For the asset checks, in one sorted pass (flat in memory, see `id_map_scan`): entries missing or
    duplicated per profile x active study, orphans, and the entries kept although no run can fix them
    (those of undecodable users, those without a string profileID)."""
    derived = _derived_by_run.pop((ctx.options.run_id, ctx.instance_id), None)
    return scan_id_map(ctx, active_studies(ctx, TaskResult(TASK, ctx.instance_id)), derived=derived)


DECLARATION = TaskDeclaration(
    flag=GENERATE_PROFILE_ID_LOOKUP,
    run=generate_profile_id_lookup,
    describe=descriptions.generate_profile_id_lookup,
    deletes=(ORPHAN_ENTRIES,),
    crash_points=(Step.LOOKUP_BATCH_INSERTED,),
    table=ID_MAP_TABLE,
)
