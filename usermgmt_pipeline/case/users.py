"""The participant-user database `<p><iid>_users`: `users`, `userAttributes`, `renewTokens` (docs/case-data.md §2.4, §3.1-3.3, §4.2).

Every read and write the tasks make on these collections is here. User documents are decoded with the Go
driver's rules for the fields the tasks use (docs/case-data.md §3.0): a field of the wrong type makes that one user
undecodable (`UserDecodeError`), which the tasks skip and report instead of aborting the instance as Go does.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Generator, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from bson import Int64, ObjectId
from pymongo.database import Database
from pymongo.errors import OperationFailure

from usermgmt_pipeline.case.bulk import in_batch
from usermgmt_pipeline.case.connections import op_deadline
from usermgmt_pipeline.case.document_fields import GoDecodeError, go_bool, go_int, go_string
from usermgmt_pipeline.errors import CaseDataError

log = logging.getLogger(__name__)

_NOT_IMPLEMENTED = 238
_CURSOR_NOT_FOUND = 43

USER_BATCH_SIZE = 32
"""Go's batch size for the user cursor; kept so server load per getMore matches the original."""

# Only the fields the tasks read: fewer bytes per user and no failure on fields the job never looks at.
USER_PROJECTION = {
    "account.accountID": 1,
    "account.accountConfirmedAt": 1,
    "account.preferredLanguage": 1,
    "timestamps": 1,
    # The whole profiles array: projecting `profiles._id` would hide a non-document entry or a non-array
    # `profiles` (Go fails to decode such a user; a projection would turn it into "no profiles").
    "profiles": 1,
    "roles": 1,
}


class UserDecodeError(CaseDataError):
    def __init__(self, user_id: str, reason: str) -> None:
        super().__init__(f"user {user_id}: {reason}")
        self.user_id = user_id
        self.reason = reason


@dataclass(frozen=True)
class Profile:
    id: str
    main_profile: bool


@dataclass(frozen=True)
class User:
    id: str
    account_id: str
    account_confirmed_at: int
    preferred_language: str
    created_at: int
    last_login: int
    last_token_refresh: int
    reminder_to_confirm_sent_at: int
    marked_for_deletion: int
    profiles: tuple[Profile, ...]

    @property
    def object_id(self) -> ObjectId:
        return ObjectId(self.id)


def decode_user(doc: Mapping[str, Any]) -> User:
    raw_id = doc.get("_id")
    user_id = str(raw_id) if raw_id is not None else "<no _id>"
    if not isinstance(raw_id, ObjectId):
        raise UserDecodeError(user_id, f"_id is {type(raw_id).__name__}, not an ObjectId")
    try:
        account = _subdoc(doc, "account")
        timestamps = _subdoc(doc, "timestamps")
        raw_profiles = doc.get("profiles")
        if raw_profiles is not None and not isinstance(raw_profiles, list):
            raise GoDecodeError.mismatch("profiles", "an array", raw_profiles)
        profiles: list[Profile] = []
        for index, raw in enumerate(raw_profiles or []):
            if not isinstance(raw, Mapping):
                raise GoDecodeError.mismatch(f"profiles[{index}]", "a document", raw)
            pid = raw.get("_id")
            if not isinstance(pid, ObjectId):
                raise GoDecodeError.mismatch(f"profiles[{index}]._id", "an ObjectId", pid)
            profiles.append(Profile(str(pid), go_bool(raw, "mainProfile", f"profiles[{index}].mainProfile")))
        return User(
            id=user_id,
            account_id=go_string(account, "accountID", "account.accountID"),
            account_confirmed_at=go_int(account, "accountConfirmedAt", "account.accountConfirmedAt"),
            preferred_language=go_string(account, "preferredLanguage", "account.preferredLanguage"),
            created_at=go_int(timestamps, "createdAt", "timestamps.createdAt"),
            last_login=go_int(timestamps, "lastLogin", "timestamps.lastLogin"),
            last_token_refresh=go_int(timestamps, "lastTokenRefresh", "timestamps.lastTokenRefresh"),
            reminder_to_confirm_sent_at=go_int(
                timestamps, "reminderToConfirmSentAt", "timestamps.reminderToConfirmSentAt"
            ),
            marked_for_deletion=go_int(timestamps, "markedForDeletion", "timestamps.markedForDeletion"),
            profiles=tuple(profiles),
        )
    except GoDecodeError as exc:
        raise UserDecodeError(user_id, str(exc)) from None


def _subdoc(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise GoDecodeError.mismatch(key, "a document", value)
    return value


def _ids_if_selected(user_ids: list[ObjectId], selection: Mapping[str, Any]) -> dict[str, Any]:
    return _with_id_condition({"$in": list(user_ids)}, selection)


def _with_id_condition(condition: Any, selection: Mapping[str, Any]) -> dict[str, Any]:
    """`{_id, **selection}` rather than `{$and: [{_id}, selection]}`: the same match, but servers that only
    push a top-level `_id` down to an index lookup (FerretDB v1 does a full scan otherwise) stay fast."""
    if "_id" in selection:
        return {"$and": [{"_id": condition}, dict(selection)]}
    return {"_id": condition, **selection}


_LOWEST_OBJECT_ID = ObjectId(b"\x00" * 12)


@dataclass
class _WalkOptions:
    """Cursor options of one walk over the users, which a server that lacks one turns off for the walk."""

    no_cursor_timeout: bool


class UsersCollections:
    """Reads and writes on one instance's `<p><iid>_users` database."""

    def __init__(self, db: Database[Any], op_timeout_s: float, *, no_cursor_timeout: bool = False) -> None:
        self.db = db
        self.users = db["users"]
        self.user_attributes = db["userAttributes"]
        self.renew_tokens = db["renewTokens"]
        self.timeout = op_timeout_s
        self.no_cursor_timeout = no_cursor_timeout

    def iterate(
        self, selection: Mapping[str, Any], batch_size: int = USER_BATCH_SIZE
    ) -> Iterator[Mapping[str, Any]]:
        """Raw user documents matching `selection`, no deadline (as Go's FindAndExecuteOnUsers).

        The batch size is Go's 32 for the per-user tasks; the batched tasks fetch one of their batches per
        getMore.

        `use_no_cursor_timeout` is honoured (Go ignores it). Cursor errors propagate to the caller, which fails
        the instance loudly instead of reporting a partial run as finished.
        """
        yield from self._find(selection, batch_size, _WalkOptions(self.no_cursor_timeout))

    def _find(
        self,
        query: Mapping[str, Any],
        batch_size: int,
        options: _WalkOptions,
        sort: list[tuple[str, int]] | None = None,
    ) -> Generator[Mapping[str, Any], None, None]:
        """One cursor over `query`, honouring `use_no_cursor_timeout` where the server supports it.

        FerretDB v1 rejects `noCursorTimeout: true` as NotImplemented (code 238); the option only protects
        against idle-cursor reaping, so the walk goes on without it rather than fail (`options` remembers
        that for the rest of the walk).
        """
        while True:
            cursor = self.users.find(
                query,
                projection=USER_PROJECTION,
                batch_size=batch_size,
                no_cursor_timeout=options.no_cursor_timeout,
                sort=sort,
            )
            with cursor:
                try:
                    first = next(cursor, None)
                except OperationFailure as exc:
                    if not (options.no_cursor_timeout and exc.code == _NOT_IMPLEMENTED):
                        raise
                    log.warning("the server does not support noCursorTimeout; iterating users without it")
                    options.no_cursor_timeout = False
                    continue
                if first is None:
                    return
                yield first
                yield from cursor
                return

    def _without_object_id(self, selection: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        """The selected users whose `_id` is not an ObjectId (hostile data), which `_id` ranges never match."""
        return self.users.find(
            _with_id_condition({"$not": {"$type": "objectId"}}, selection), projection=USER_PROJECTION
        )

    def iterate_resuming(self, selection: Mapping[str, Any], batch_size: int) -> Iterator[Mapping[str, Any]]:
        """Raw user documents matching `selection` by one cursor in `_id` order, resumed after the last user
        read when the server lost the cursor (CursorNotFound).

        For walks over every user, where a query per page would cost a scan of the whole collection on a
        server that plans every filter as one (FerretDB v1). A cursor can still be lost between two batches:
        MongoDB reaps one idle for 10 minutes, and FerretDB drops a cursor with the connection that opened
        it, which the pool closes after `idle_conn_timeout`. Go's walk ended there, reported as finished.
        Other errors (the server gone) propagate. Users with a non-ObjectId `_id` come last, as in
        `iterate_in_pages`.
        """
        bound: dict[str, Any] = {"$gte": _LOWEST_OBJECT_ID}
        last: Any = None
        options = _WalkOptions(self.no_cursor_timeout)
        while True:
            query = _with_id_condition(bound, selection)
            try:
                with closing(self._find(query, batch_size, options, sort=[("_id", 1)])) as docs:
                    for doc in docs:
                        last = doc["_id"]
                        yield doc
                break
            except OperationFailure as exc:
                if exc.code != _CURSOR_NOT_FOUND or last is None:
                    raise
                log.warning("the server lost the user cursor; resuming after user %s", last)
                bound = {"$gt": last}
        yield from self._without_object_id(selection)

    def iterate_in_pages(self, selection: Mapping[str, Any], page_size: int) -> Iterator[Mapping[str, Any]]:
        """Raw user documents matching `selection`, each page of `page_size` read by its own query.

        A page is the next `page_size` users by `_id` after the last one read (keyset paging), so no cursor
        stays open while the caller works on a page. A batch of deletions can take longer than a cursor lives
        unused (MongoDB reaps one idle for 10 minutes; FerretDB drops one with its connection, which the pool
        closes after `idle_conn_timeout`), and a lost cursor failed the walk with CursorNotFound. Users the caller changed so that they left the selection are simply not read again,
        and one it left selected (a failure) is not read twice.

        `_id` range conditions only match ids of the bound's BSON type, so the ObjectId ids are paged and the
        users with any other `_id` (hostile data: every CASE user has an ObjectId) are read by one last query;
        the caller reports them as undecodable.
        """
        bound: dict[str, Any] = {"$gte": _LOWEST_OBJECT_ID}
        while True:
            page = list(
                self.users.find(
                    _with_id_condition(bound, selection),
                    projection=USER_PROJECTION,
                    sort=[("_id", 1)],
                    limit=page_size,
                    batch_size=page_size,
                )
            )
            yield from page
            if len(page) < page_size:
                break
            bound = {"$gt": page[-1]["_id"]}
        yield from self._without_object_id(selection)

    def profile_owners(self) -> Iterator[tuple[str, str]]:
        """`(profile id, user id)` for every profile of every user document, decodable or not, by profile id.

        The server sorts (`$unwind`, `$match` on the id's BSON type, `$sort`: all supported by FerretDB v1), so
        a caller can merge this with another sorted stream while holding one item. ObjectId profile ids come
        as hex strings (hex order is the ObjectId's byte order) and string ids (undecodable users) as they are;
        the two sorted streams are merged here. No other id type can equal a map entry's string `profileID`.
        """
        by_type = [self._profile_ids_of_type(bson_type) for bson_type in ("objectId", "string")]
        return heapq.merge(*by_type, key=lambda owner: owner[0])

    def _profile_ids_of_type(self, bson_type: str) -> Iterator[tuple[str, str]]:
        rows = self.users.aggregate(
            [
                {"$unwind": "$profiles"},
                {"$match": {"profiles._id": {"$type": bson_type}}},
                {"$project": {"profiles._id": 1}},
                {"$sort": {"profiles._id": 1}},
            ],
            allowDiskUse=True,  # MongoDB's in-memory sort limit; FerretDB accepts and ignores it
            batchSize=1000,
        )
        with rows:
            for row in rows:
                yield str(row["profiles"]["_id"]), str(row["_id"])

    def owned_profile_ids(self, profile_ids: Iterable[str]) -> set[str]:
        """Those of these profile ids that a user document holds now, decodable or not (one query).

        A hex id matches an ObjectId profile id in any letter case, as Go's `ObjectIDFromHex` would read it.
        """
        given = set(profile_ids)
        wanted: list[Any] = list(given)
        wanted += [ObjectId(p) for p in given if ObjectId.is_valid(p) and len(p) == 24]
        if not wanted:
            return set()
        held: set[str] = set()
        with op_deadline(self.timeout):
            for doc in self.users.find(
                {"profiles._id": {"$in": wanted}}, projection={"profiles._id": 1}, batch_size=in_batch(given)
            ):
                profiles = doc.get("profiles")
                for profile in profiles if isinstance(profiles, list) else [profiles]:
                    if isinstance(profile, Mapping) and "_id" in profile:
                        held.add(str(profile["_id"]))
        return {p for p in given if p in held or (len(p) == 24 and p.lower() in held)}

    def count(self, selection: Mapping[str, Any]) -> int:
        with op_deadline(self.timeout):
            return self.users.count_documents(selection)

    def estimated_count(self) -> int:
        """The collection's size from its metadata (no scan); precise enough for a share threshold."""
        with op_deadline(self.timeout):
            return self.users.estimated_document_count()

    def preferred_languages(self) -> set[str]:
        """Every `account.preferredLanguage` in use, decoded as the user's language is (ObjectId as hex);
        users without one, or with null, have language "" (the caller adds it)."""
        # `$group`, not `distinct`: FerretDB v1 refuses `distinct` with the deadline's maxTimeMS.
        with op_deadline(self.timeout):
            groups = list(self.users.aggregate([{"$group": {"_id": "$account.preferredLanguage"}}]))
        return {str(g["_id"]) for g in groups if isinstance(g["_id"], str | ObjectId)}

    def selected_ids(self, user_ids: list[ObjectId], selection: Mapping[str, Any]) -> set[ObjectId]:
        """Which of `user_ids` still match the task's selection: one `_id` `$in` query."""
        if not user_ids:
            return set()
        with op_deadline(self.timeout):
            return {
                doc["_id"]
                for doc in self.users.find(
                    _ids_if_selected(user_ids, selection),
                    projection={"_id": 1},
                    batch_size=in_batch(user_ids),
                )
            }

    def set_timestamp_many_if_selected(
        self, user_ids: list[ObjectId], selection: Mapping[str, Any], field: str, value: int
    ) -> set[ObjectId]:
        """`$set timestamps.<field>` (Int64) on those of `user_ids` still selected; returns who was set.

        One `update_many` filtered by `_id` `$in` plus the selection; only when it matched fewer users than
        asked, one read of who now carries the value: a user who left the selection meanwhile is neither
        written nor counted.
        """
        if not user_ids:
            return set()
        with op_deadline(self.timeout):
            result = self.users.update_many(
                _ids_if_selected(user_ids, selection), {"$set": {f"timestamps.{field}": Int64(value)}}
            )
            if result.matched_count == len(set(user_ids)):  # all still selected: no second read needed
                return set(user_ids)
            return {
                doc["_id"]
                for doc in self.users.find(
                    {"_id": {"$in": list(user_ids)}, f"timestamps.{field}": Int64(value)},
                    projection={"_id": 1},
                    batch_size=in_batch(user_ids),
                )
            }

    def get_raw_many(self, user_ids: list[ObjectId]) -> dict[ObjectId, Mapping[str, Any]]:
        if not user_ids:
            return {}
        with op_deadline(self.timeout):
            return {
                doc["_id"]: doc
                for doc in self.users.find(
                    {"_id": {"$in": list(user_ids)}},
                    projection=USER_PROJECTION,
                    batch_size=in_batch(user_ids),
                )
            }

    def delete_many_if_selected(
        self, user_ids: list[ObjectId], selection: Mapping[str, Any]
    ) -> set[ObjectId]:
        """Delete those of `user_ids` that still match the selection; returns the ids deleted.

        One read of who is still selected, then one `delete_many` filtered by those ids plus the selection
        (so a user who logs in between the two is kept). Only when it deleted fewer than it read does a
        third call find which of them still exist. A user already gone before the read (deleted by the
        participant API, say) is not among the deleted: nothing is erased or sent in our name for them.
        """
        selected = self.selected_ids(user_ids, selection)
        if not selected:
            return set()
        with op_deadline(self.timeout):
            deleted = self.users.delete_many(_ids_if_selected(list(selected), selection)).deleted_count
            if deleted == len(selected):
                return selected
            return selected - self.existing_ids(list(selected))

    def existing_ids(self, user_ids: list[ObjectId]) -> set[ObjectId]:
        if not user_ids:
            return set()
        with op_deadline(self.timeout):
            return {
                doc["_id"]
                for doc in self.users.find(
                    {"_id": {"$in": list(user_ids)}}, projection={"_id": 1}, batch_size=in_batch(user_ids)
                )
            }

    def delete_attributes_many(self, user_ids: list[ObjectId]) -> int:
        """`delete_attributes` for many users in one call."""
        if not user_ids:
            return 0
        with op_deadline(self.timeout):
            return self.user_attributes.delete_many({"userId": {"$in": list(user_ids)}}).deleted_count

    def delete_renew_tokens_many(self, user_hexes: list[str]) -> int:
        """`delete_renew_tokens` for many users in one call."""
        if not user_hexes:
            return 0
        with op_deadline(self.timeout):
            return self.renew_tokens.delete_many({"userID": {"$in": list(user_hexes)}}).deleted_count
