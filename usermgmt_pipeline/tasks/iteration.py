"""Walking the selected users of one instance: decode, skip the undecodable, fail loudly on cursor errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pymongo.errors import ConnectionFailure, PyMongoError

from usermgmt_pipeline.case.connections import op_deadline
from usermgmt_pipeline.case.journal import JournalEntry
from usermgmt_pipeline.case.leases import LeaseLost
from usermgmt_pipeline.case.studies import Study
from usermgmt_pipeline.case.users import User, UserDecodeError, decode_user
from usermgmt_pipeline.review.collect import ReviewPlan, review_users
from usermgmt_pipeline.tasks.context import ProgressLogger, TaskContext, ids_only
from usermgmt_pipeline.tasks.results import DONE, Outcome, TaskFailedError, TaskResult
from usermgmt_pipeline.tasks.stopping import raise_if_stop_requested


def selected_users(
    ctx: TaskContext,
    task: str,
    selection: Mapping[str, Any],
    result: TaskResult,
    fetch_batch_size: int | None = None,
    *,
    in_pages: bool = False,
) -> Iterator[User]:
    """Yield decodable users; an undecodable one is skipped and reported with its id and reason.

    A cursor error (server gone, cursor killed) raises TaskFailedError carrying the counts so far: Go
    silently reported such partial runs as finished. The walk as a whole has no deadline (it may take
    hours), but each fetch from the server (find, getMore) gets the database's `timeout`, like every
    other operation: Go's unbounded cursor context let one stuck reply hang the job forever.

    A requested stop (a signal) ends the walk here, before the next user is read: the caller has finished
    the previous one, so no user is left half done (`RunStoppedError`).

    `in_pages` reads each `fetch_batch_size` users by a query of its own (`UsersCollections.iterate_in_pages`)
    instead of one cursor held for the whole walk: for callers whose work per batch can outlast the server's
    idle-cursor timeout.
    """
    progress = ProgressLogger(ctx, task)
    users = ctx.users
    if in_pages:
        iterator = iter(users.iterate_in_pages(selection, fetch_batch_size or ctx.batch_size))
    elif fetch_batch_size is None:
        iterator = iter(users.iterate(selection))
    else:
        iterator = iter(users.iterate_resuming(selection, fetch_batch_size))
    fetch_timeout = ctx.dbs.timeout_s("participant_user_db")
    try:
        while True:
            raise_if_stop_requested(ctx, task, result)
            try:
                with op_deadline(fetch_timeout):
                    raw = next(iterator)
            except StopIteration:
                return
            except PyMongoError as exc:
                raise TaskFailedError(
                    f"{task}[{ctx.instance_id}]: reading users failed after {result.selected} users: "
                    f"{type(exc).__name__}: {exc}",
                    result,
                ) from exc
            result.selected += 1
            progress.tick()
            try:
                user = decode_user(raw)
            except UserDecodeError as exc:
                ctx.logger.warning(
                    "%s[%s]: skipping undecodable user %s: %s", task, ctx.instance_id, exc.user_id, exc.reason
                )
                result.skip(exc.user_id, f"undecodable: {exc.reason}")
                ctx.audit(task, exc.user_id, "decode", "skipped")
                continue
            yield user
    finally:
        _close_cursor(ctx, iterator, fetch_timeout)


def _close_cursor(ctx: TaskContext, iterator: Iterator[Any], timeout_s: float) -> None:
    """Close a walk that ends early (an error, a stop) under the operation timeout.

    Closing an unexhausted cursor sends killCursors; without a deadline a server that stopped answering
    would hold the run (and the instance lease) until the socket gives up. The cursor is dead to us either
    way, and the server reaps it itself, so a failure here is only logged.
    """
    close = getattr(iterator, "close", None)
    if close is None:
        return
    try:
        with op_deadline(timeout_s):
            close()
    except PyMongoError as exc:
        ctx.logger.debug("closing the user cursor failed: %s", type(exc).__name__)


def run_in_batches(
    ctx: TaskContext,
    task: str,
    selection: Mapping[str, Any],
    result: TaskResult,
    handle_batch: Callable[[list[User]], Mapping[str, Outcome]],
    *,
    in_pages: bool = True,
) -> None:
    """Call `handle_batch` per `orchestration.batch_size` selected users; it returns each user's outcome.

    Each batch is read by a query of its own (pages by `_id`), so no cursor idles while a batch is worked
    on. A walk over every user whose batches are quick (`in_pages=False`) holds one cursor instead and
    fetches a batch per getMore: on a server that plans every filter as a full scan (FerretDB v1), a page
    costs a scan of the whole collection. Outcomes are recorded per user: a
    failed user is reported and the walk goes on; a lost database fails the instance with the counts so far.
    An exception out of `handle_batch` itself (a bulk call that failed as a whole) counts for every user of
    the batch. The batch's audit records are written after it, in one call.
    """
    size = ctx.batch_size
    batch: list[User] = []

    def flush() -> None:
        try:
            outcomes: Mapping[str, Outcome] = handle_batch(batch)
        except TaskFailedError:
            raise
        except LeaseLost as exc:
            exc.result = result  # the counts of the batches before this one
            raise
        except Exception as exc:
            outcomes = {user.id: Outcome.fail(exc) for user in batch}
        for user in batch:
            _record(ctx, task, user, outcomes.get(user.id, DONE), result)
        batch.clear()
        ctx.flush_audit()

    for user in selected_users(ctx, task, selection, result, fetch_batch_size=size, in_pages=in_pages):
        batch.append(user)
        if len(batch) >= size:
            flush()
    if batch:
        flush()


def _record(ctx: TaskContext, task: str, user: User, outcome: Outcome, result: TaskResult) -> None:
    exc = outcome.error
    if exc is None:
        if outcome.skipped is None:
            result.done += 1
        else:
            result.skip(user.id, outcome.skipped)
        return
    if isinstance(exc, TaskFailedError):
        raise exc
    if isinstance(exc, PyMongoError) and database_unavailable(exc):
        result.fail(user.id, f"{type(exc).__name__}: {exc}")
        raise TaskFailedError(
            f"{task}[{ctx.instance_id}]: database unavailable while processing user {user.id}: "
            f"{type(exc).__name__}: {exc}",
            result,
        ) from exc
    _fail_user(ctx, task, user.id, exc, result)


def dry_run(
    ctx: TaskContext,
    task: str,
    selection: Mapping[str, Any],
    result: TaskResult,
    plan: ReviewPlan | None = None,
    resumable: Sequence[JournalEntry] = (),
    studies: Callable[[], Sequence[Study]] = tuple,
) -> TaskResult:
    """Count the selection and sample ids; with a review asked for, list every user in the bundle. Read-only.

    `resumable` are the journal entries of deletions an interrupted run left past their commit point: the
    real run finishes them first, so they are counted (`resumed`) and listed as such. `studies` loads the
    instance's studies for a deletion's review rows (where LEAVE rules would run)."""
    sample_size = ctx.config.orchestration.dry_run_sample_size
    result.dry_run = True
    review = (
        review_users(ctx, task, plan, earlier=ctx.plan.reported_before(task), studies=studies)
        if plan is not None
        else None
    )
    result.resumed = len(resumable)
    result.extra["resumed_user_ids"] = [e.user_id for e in resumable[:sample_size]]
    if review is not None:
        for entry in resumable:
            review.add_resumed(entry)
    for user in selected_users(ctx, task, selection, result):
        if len(result.sample_user_ids) < sample_size:
            result.sample_user_ids.append(user.id)
        if review is not None:
            review.add(user)
    if review is not None:
        result.review = review.finish()
    return result


def _fail_user(ctx: TaskContext, task: str, user_id: str, exc: Exception, result: TaskResult) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    ctx.logger.error("%s[%s]: user %s failed: %s", task, ctx.instance_id, user_id, reason)
    result.fail(user_id, reason)
    ctx.audit(task, user_id, task, "failed", {"reason": ids_only(reason)})


def database_unavailable(exc: PyMongoError) -> bool:
    """Connection lost, server unselectable, or the operation's deadline expired."""
    return isinstance(exc, ConnectionFailure) or bool(getattr(exc, "timeout", False))
