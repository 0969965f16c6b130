"""Bounded growth of our own collections: indexes and the retention purge, at the start of every task run.

The journal keeps a finished entry (`done`, `selection-changed`, `abandoned`) only to make a rerun of the
same run idempotent; after `orchestration.journal_retention` (default 720h) nothing resumes it any more:
the user's timestamp or the user's absence is what keeps them from being selected again. Audit records
are kept for `orchestration.audit_retention` (default 9600h, about 400 days, at least 720h), long enough for
an account-history lookup over a year's runs. The running run's own audit records are never purged, whatever
their age: its mass-deletion guard sums the accounts it already deleted from them (`tasks.deletion_plan`), so
a purge at the start of a later task of the same run must not make that count shrink.

Why a purge and not a TTL index: FerretDB v1.24.2, the server the tests and the benchmark run on,
refuses `expireAfterSeconds` (NotImplemented), and a TTL index needs a BSON date while our entries carry
Unix seconds. A `delete_many` at run start works the same on MongoDB and FerretDB, runs under the
instance lease, and only ever touches this instance's finished entries, never one a rerun still needs.
"""

from __future__ import annotations

from usermgmt_pipeline.tasks.context import TaskContext


def tidy_pipeline_store(ctx: TaskContext) -> dict[str, int]:
    """Create our indexes and purge this instance's expired journal entries and audit records."""
    orchestration = ctx.config.orchestration
    store = ctx.pipeline
    store.ensure_indexes()
    purged = {
        "journal": store.purge_finished_entries(
            ctx.instance_id, ctx.before(int(orchestration.journal_retention))
        ),
        "audit": store.purge_audit(
            ctx.instance_id, ctx.before(int(orchestration.audit_retention)), ctx.options.run_id
        ),
    }
    if any(purged.values()):
        ctx.logger.info(
            "housekeeping[%s]: purged %d finished journal entries and %d audit records past retention",
            ctx.instance_id,
            purged["journal"],
            purged["audit"],
        )
    return purged
