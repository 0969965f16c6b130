"""`<p><iid>_studyDB`: study infos, rules, participants, reports, confidential responses, the ID map (docs/case-data.md §3.7-3.12, §4.5).

Every read and write the tasks and the deletion flow make on the study database is here; the engine-only
collections (code lists, counters, variables, survey responses, researcher messages) are in
`study_engine_collections`.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson import Int64, ObjectId
from pymongo import DESCENDING, InsertOne, ReplaceOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, InvalidName, OperationFailure

from usermgmt_pipeline.case.bulk import in_batch, insert_unordered, write_unordered
from usermgmt_pipeline.case.connections import CaseDatabases, op_deadline
from usermgmt_pipeline.case.document_fields import GoDecodeError, go_bool, go_string
from usermgmt_pipeline.case.id_mapping import StudyIdentity
from usermgmt_pipeline.errors import CaseDataError

ID_MAP = "confidential-id-map"
# The per-study collections, `<studyKey><suffix>` (docs/case-data.md §3.8-3.13, §4.5).
STUDY_COLLECTION_SUFFIXES = (
    "_participants",
    "_reports",
    "_confidentialResponses",
    "_surveyResponses",
    "_researcherMessages",
)
INVALID_NAMESPACE = 73  # the server's code for a collection name it refuses


@dataclass(frozen=True)
class Study:
    key: str
    secret_key: str
    status: str
    id_mapping_method: str
    track_account: bool
    # Set only by `decode_study_for_erasure`: why participant IDs cannot be derived (only `key` is valid then).
    identity_error: str = ""

    @property
    def identity(self) -> StudyIdentity:
        return StudyIdentity(self.key, self.secret_key, self.id_mapping_method)


class StudyDecodeError(CaseDataError):
    pass


def decode_study(doc: Mapping[str, Any]) -> Study:
    try:
        configs = doc.get("configs") or {}
        if not isinstance(configs, Mapping):
            raise GoDecodeError.mismatch("configs", "a document", configs)
        study = Study(
            key=go_string(doc, "key", "key"),
            secret_key=go_string(doc, "secretKey", "secretKey"),
            status=go_string(doc, "status", "status"),
            id_mapping_method=go_string(configs, "idMappingMethod", "configs.idMappingMethod"),
            track_account=go_bool(configs, "trackAccount", "configs.trackAccount"),
        )
    except GoDecodeError as exc:
        raise StudyDecodeError(f"study {doc.get('key', doc.get('_id'))!s}: {exc}") from None
    if not study.key:
        raise StudyDecodeError(f"study {doc.get('_id')!s} has no key")
    return study


def decode_study_for_erasure(doc: Mapping[str, Any]) -> tuple[Study, str]:
    """(study, what is wrong with its document, "" if nothing) for erasing a profile's data in it.

    Erasure needs only the key (collection names, ID-map entries) and the secret and ID-mapping method
    (participant IDs), so a wrong `status` or `trackAccount` must not leave the study's data behind. When
    the secret or method does not decode either, the study comes back with `identity_error` set: its
    ID-map entries can still be removed, its participant data cannot be located. Raises StudyDecodeError
    only when not even the key decodes (then no collection and no map entry can be named by it).
    """
    try:
        return decode_study(doc), ""
    except StudyDecodeError as exc:
        problem = str(exc)
    try:
        key = go_string(doc, "key", "key")
    except GoDecodeError:
        raise StudyDecodeError(problem) from None
    if not key:
        raise StudyDecodeError(problem)
    try:
        configs = doc.get("configs") or {}
        if not isinstance(configs, Mapping):
            raise GoDecodeError.mismatch("configs", "a document", configs)
        secret_key = go_string(doc, "secretKey", "secretKey")
        method = go_string(configs, "idMappingMethod", "configs.idMappingMethod")
    except GoDecodeError as exc:
        return Study(key, "", "", "", False, identity_error=str(exc)), problem
    return Study(key, secret_key, "", method, False), problem


class StudyCollections:
    def __init__(self, db: Database[Any], op_timeout_s: float) -> None:
        self.db = db
        self.timeout = op_timeout_s
        self.id_map = db[ID_MAP]

    @classmethod
    def of_instance(cls, dbs: CaseDatabases, instance_id: str) -> StudyCollections:
        """The instance's `<p><iid>_studyDB` under the `study_db` connection's own operation timeout."""
        return cls(dbs.study_db(instance_id), dbs.timeout_s("study_db"))

    def studies(self, status: str = "") -> list[Mapping[str, Any]]:
        """Raw `study-infos` documents; `status` "" means all studies (profile deletion uses all)."""
        with op_deadline(self.timeout):
            return list(self.db["study-infos"].find({"status": status} if status else {}))

    def active_study_keys(self) -> list[str]:
        """The keys of the active studies, sorted; a study without a key names nothing and is left out."""
        return sorted({str(doc.get("key")) for doc in self.studies("active") if doc.get("key")})

    def current_rules_document(self, study_key: str) -> Mapping[str, Any] | None:
        """The latest upload (`uploadedAt` descending) of the study's rules."""
        with op_deadline(self.timeout):
            return self.db["studyRules"].find_one({"studyKey": study_key}, sort=[("uploadedAt", DESCENDING)])

    def collection_name_problem(self, study_key: str) -> str:
        """Why `study_key` cannot name the study's collections ("" when it can; checked by the driver, no I/O).

        A `$`, a null character, `..` or a leading `.` make every `<studyKey>_...` name invalid, so such a
        study holds no participant data by construction; its entries in the shared ID map can still exist.
        """
        for suffix in STUDY_COLLECTION_SUFFIXES:
            try:
                self.db[f"{study_key}{suffix}"]
            except InvalidName as exc:
                return f"study key {study_key!r} cannot name a MongoDB collection ({exc})"
        return ""

    def _study_collection(self, study_key: str, suffix: str) -> Collection[Any] | None:
        """`<studyKey><suffix>`, or None when the name is invalid (then no document can exist in it)."""
        try:
            return self.db[f"{study_key}{suffix}"]
        except InvalidName:
            return None

    def participant(self, study_key: str, participant_id: str) -> Mapping[str, Any] | None:
        """The stored participant, None if there is none (also when no collection can have the study's name).

        Raises `bson.errors.InvalidBSON` when the driver cannot decode the document at all.
        """
        collection = self._study_collection(study_key, "_participants")
        if collection is None:
            return None
        with op_deadline(self.timeout):
            try:
                return collection.find_one({"participantID": participant_id}, sort=[("_id", 1)])
            except OperationFailure as exc:
                if exc.code == INVALID_NAMESPACE:  # the server refuses the name: nothing can be stored there
                    return None
                raise

    def save_participant_state(self, study_key: str, encoded: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Go's SaveParticipantState: `modifiedAt` = now, find-one-and-replace, upsert (see `_replace_filter`)."""
        doc = dict(encoded)
        doc["modifiedAt"] = Int64(int(time.time()))
        selector = _replace_filter(doc)
        with op_deadline(self.timeout):
            return self.db[f"{study_key}_participants"].find_one_and_replace(
                selector, doc, upsert=True, return_document=True
            )

    def set_participant_status(self, study_key: str, participant_id: str, status: str) -> int:
        """`$set` only `studyStatus` (and `modifiedAt` = now) on the participant's documents.

        For a participant document that does not decode: Go's full replace needs the decoded state, and a
        targeted update still takes the participant out of the study without touching the rest of it.
        """
        with op_deadline(self.timeout):
            return (
                self.db[f"{study_key}_participants"]
                .update_many(
                    {"participantID": participant_id},
                    {"$set": {"studyStatus": status, "modifiedAt": Int64(int(time.time()))}},
                )
                .matched_count
            )

    def insert_report_once(self, study_key: str, report: Mapping[str, Any]) -> bool:
        """Insert a report carrying a pre-assigned `_id`; False when an interrupted run already saved it."""
        with op_deadline(self.timeout):
            try:
                self.db[f"{study_key}_reports"].insert_one(dict(report))
                return True
            except DuplicateKeyError:
                return False

    def delete_confidential_responses(self, study_key: str, confidential_id: str, key: str = "") -> int:
        if not confidential_id:
            raise ValueError("participant id must be defined")
        selector: dict[str, Any] = {"participantID": confidential_id}
        if key:
            selector["key"] = key
        collection = self._study_collection(study_key, "_confidentialResponses")
        if collection is None:
            return 0
        with op_deadline(self.timeout):
            try:
                return collection.delete_many(selector).deleted_count
            except OperationFailure as exc:
                if exc.code == INVALID_NAMESPACE:
                    return 0
                raise

    def participants(self, study_key: str, participant_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """`participant` for many ids in one `$in` read: the stored ones by participant id.

        Raises `bson.errors.InvalidBSON` when the driver cannot decode one of them; the caller then reads
        them one by one to find which (`participant`).
        """
        collection = self._study_collection(study_key, "_participants")
        if collection is None or not participant_ids:
            return {}
        with op_deadline(self.timeout):
            try:
                docs = list(
                    collection.find(
                        {"participantID": {"$in": list(participant_ids)}},
                        sort=[("_id", 1)],
                        batch_size=in_batch(participant_ids),
                    )
                )
            except OperationFailure as exc:
                if exc.code == INVALID_NAMESPACE:
                    return {}
                raise
        found: dict[str, Mapping[str, Any]] = {}
        for doc in docs:
            found.setdefault(doc.get("participantID"), doc)  # several (no unique index): the lowest `_id`
        return found

    def save_participant_states(self, study_key: str, states: Sequence[Mapping[str, Any]]) -> dict[int, str]:
        """`save_participant_state` for many participants in one unordered bulk write; returns the refused."""
        now = Int64(int(time.time()))
        ops = []
        for encoded in states:
            doc = {**encoded, "modifiedAt": now}
            ops.append(ReplaceOne(_replace_filter(doc), doc, upsert=True))
        with op_deadline(self.timeout):
            return write_unordered(self.db[f"{study_key}_participants"], ops)

    def set_participant_status_many(self, study_key: str, participant_ids: Sequence[str], status: str) -> int:
        """`set_participant_status` for many participants in one call."""
        if not participant_ids:
            return 0
        with op_deadline(self.timeout):
            return (
                self.db[f"{study_key}_participants"]
                .update_many(
                    {"participantID": {"$in": list(participant_ids)}},
                    {"$set": {"studyStatus": status, "modifiedAt": Int64(int(time.time()))}},
                )
                .matched_count
            )

    def insert_reports_once(self, study_key: str, reports: Sequence[Mapping[str, Any]]) -> dict[int, str]:
        """`insert_report_once` for many reports in one call; returns the refused (a duplicate is not)."""
        with op_deadline(self.timeout):
            return insert_unordered(self.db[f"{study_key}_reports"], reports).errors

    def delete_confidential_responses_of(self, study_key: str, confidential_ids: Sequence[str]) -> int:
        """`delete_confidential_responses` (all keys) for many participants in one call."""
        if any(not cid for cid in confidential_ids):
            raise ValueError("participant id must be defined")
        collection = self._study_collection(study_key, "_confidentialResponses")
        if collection is None or not confidential_ids:
            return 0
        with op_deadline(self.timeout):
            try:
                return collection.delete_many(
                    {"participantID": {"$in": list(confidential_ids)}}
                ).deleted_count
            except OperationFailure as exc:
                if exc.code == INVALID_NAMESPACE:
                    return 0
                raise

    def remove_id_map_entries_of(self, profile_ids: Sequence[str], study_keys: Sequence[str]) -> int:
        """Every map entry of these profiles in these studies, in one delete (Go removes them per study)."""
        if not profile_ids or not study_keys:
            return 0
        with op_deadline(self.timeout):
            return self.id_map.delete_many(
                {"profileID": {"$in": list(profile_ids)}, "studyKey": {"$in": list(study_keys)}}
            ).deleted_count

    def remove_id_map_entries_for_profile(self, profile_id: str, study_key: str) -> int:
        with op_deadline(self.timeout):
            return self.id_map.delete_many({"profileID": profile_id, "studyKey": study_key}).deleted_count

    @property
    def id_map_table_name(self) -> str:
        """`<database>.<collection>` of the map, as Dagster's `dagster/table_name` names a table."""
        return f"{self.db.name}.{ID_MAP}"

    def id_map_size(self) -> int:
        with op_deadline(self.timeout):
            return self.id_map.count_documents({})

    def id_map_entries_by_profile(self) -> Iterator[Mapping[str, Any]]:
        """Every map entry (`_id`, `profileID`, `studyKey`, `confidentialID`), ordered by `profileID`.

        Non-string `profileID`s sort into other BSON type brackets around the strings; the strings stay
        contiguous and ordered, which is what a merge by profile id needs.
        """
        cursor = self.id_map.find(
            {},
            projection={"profileID": 1, "studyKey": 1, "confidentialID": 1},
            sort=[("profileID", 1)],
            allow_disk_use=True,  # MongoDB's in-memory sort limit; FerretDB accepts and ignores it
            batch_size=1000,
        )
        with cursor:
            yield from cursor

    def duplicated_id_map_keys(self, study_keys: Sequence[str]) -> set[tuple[str, str]]:
        """`(studyKey, confidentialID)` pairs held by more than one entry (possible only without the unique index).

        One read ordered by the pair, compared with the previous entry: memory holds the defects found, not
        the entries. (FerretDB v1's `$group` needs minutes for ten thousand entries; a sorted find does not.)
        """
        duplicated: set[tuple[str, str]] = set()
        if not study_keys:
            return duplicated
        previous: tuple[Any, Any] | None = None
        cursor = self.id_map.find(
            {"studyKey": {"$in": list(study_keys)}},
            projection={"_id": 0, "studyKey": 1, "confidentialID": 1},
            sort=[("studyKey", 1), ("confidentialID", 1)],
            allow_disk_use=True,
            batch_size=1000,
        )
        with cursor:
            for doc in cursor:
                key = (doc.get("studyKey"), doc.get("confidentialID"))
                if key == previous and isinstance(key[1], str):
                    duplicated.add((str(key[0]), key[1]))
                previous = key
        return duplicated

    def count_id_map_entries(self, study_key: str, confidential_ids: Sequence[str]) -> dict[str, int]:
        """How many entries each of these confidential IDs has in the study (one query per batch)."""
        counts: dict[str, int] = {}
        if not confidential_ids:
            return counts
        with op_deadline(self.timeout):
            for doc in self.id_map.find(
                {"studyKey": study_key, "confidentialID": {"$in": list(confidential_ids)}},
                projection={"_id": 0, "confidentialID": 1},
                batch_size=in_batch(confidential_ids),
            ):
                counts[doc["confidentialID"]] = counts.get(doc["confidentialID"], 0) + 1
        return counts

    def remove_id_map_entries(self, entry_ids: Sequence[ObjectId], profile_ids: Sequence[str]) -> int:
        """Delete these entries, and only while they still name one of these profiles."""
        if not entry_ids:
            return 0
        with op_deadline(self.timeout):
            return self.id_map.delete_many(
                {"_id": {"$in": list(entry_ids)}, "profileID": {"$in": list(profile_ids)}}
            ).deleted_count

    def existing_confidential_ids(self, study_key: str, confidential_ids: Sequence[str]) -> set[str]:
        """Which of these confidential IDs already have a map entry for the study (one query per batch)."""
        if not confidential_ids:
            return set()
        with op_deadline(self.timeout):
            cursor = self.id_map.find(
                {"studyKey": study_key, "confidentialID": {"$in": list(confidential_ids)}},
                projection={"_id": 0, "confidentialID": 1},
                batch_size=in_batch(confidential_ids),
            )
            return {doc["confidentialID"] for doc in cursor}

    def insert_id_map_entries(self, entries: Iterable[Mapping[str, str]]) -> tuple[int, int, list[str]]:
        """Unordered bulk insert of `{confidentialID, profileID, studyKey}`: (inserted, duplicates, errors).

        Unordered because entries are independent; a duplicate-key rejection (the unique index, or a
        concurrent writer) is counted apart and does not stop the others, like Go's per-entry insert that
        only logs errors.
        """
        ops = [
            InsertOne(
                {
                    "confidentialID": e["confidentialID"],
                    "profileID": e["profileID"],
                    "studyKey": e["studyKey"],
                }
            )
            for e in entries
        ]
        if not ops:
            return 0, 0, []
        with op_deadline(self.timeout):
            try:
                result = self.id_map.bulk_write(ops, ordered=False)
                return result.inserted_count, 0, []
            except BulkWriteError as exc:
                write_errors = exc.details.get("writeErrors", [])
                duplicates = sum(1 for e in write_errors if e.get("code") == 11000)
                errors = [
                    f"{e.get('code')}: {str(e.get('errmsg', ''))[:200]}"
                    for e in write_errors
                    if e.get("code") != 11000
                ]
                return int(exc.details.get("nInserted", 0)), duplicates, errors

    def id_map_digests(self) -> IdMapDigests:
        """Every (studyKey, confidentialID) of the map as a sorted 8-byte digest: one streamed read."""
        digests = array("Q")
        with op_deadline(self.timeout):
            cursor = self.id_map.find(
                {}, projection={"_id": 0, "confidentialID": 1, "studyKey": 1}, batch_size=10_000
            )
            for doc in cursor:
                cid, key = doc.get("confidentialID"), doc.get("studyKey")
                if isinstance(cid, str) and isinstance(key, str):
                    digests.append(id_map_digest(key, cid))
        return IdMapDigests(sorted_digests(digests))

    def id_map_entries(self) -> Iterator[tuple[Any, Any, Any]]:
        """(studyKey, confidentialID, profileID) of every map entry, streamed (values as stored)."""
        with op_deadline(self.timeout):
            cursor = self.id_map.find(
                {},
                projection={"_id": 0, "studyKey": 1, "confidentialID": 1, "profileID": 1},
                batch_size=10_000,
            )
            for doc in cursor:
                yield doc.get("studyKey"), doc.get("confidentialID"), doc.get("profileID")

    def id_map_is_unique_indexed(self) -> bool:
        """Whether `confidential-id-map` has CASE's unique (confidentialID, studyKey) index (docs/case-data.md §2.5).

        With it, the server itself rejects an existing entry, so the lookup can insert blindly and count the
        rejections; without it (db-migration never run) it must read first, or it would create duplicates.
        """
        with op_deadline(self.timeout):
            indexes = self.id_map.index_information()
        return any(
            info.get("unique") and list(info.get("key", [])) == [("confidentialID", 1), ("studyKey", 1)]
            for info in indexes.values()
        )


def _replace_filter(doc: dict[str, Any]) -> dict[str, Any]:
    """The filter of a participant replace; takes `_id` out of `doc` (the replacement never sets it).

    A state that carries `_id` (the document it was read from; `participants` picks the lowest `_id` of a
    participant ID, the document Go's find-one-and-replace by participant ID meets first on an unindexed
    collection) is written back by that `_id`: the one document just read, served by the `_id` index on every
    engine. Upserting by `_id` recreates it under the same `_id` if it was deleted meanwhile, as Go's upsert
    by participant ID would. A state without `_id` (never stored) is found by participant ID.
    """
    doc_id = doc.pop("_id", None)
    return {"_id": doc_id} if doc_id is not None else {"participantID": doc["participantID"]}


def sorted_digests(values: Iterable[int], *, distinct: bool = False, chunk: int = 65_536) -> array[int]:
    """The values as a sorted array of 8-byte ints, sorted chunk by chunk and merged, so that no Python
    list of them all ever exists (an int in a list costs about 40 bytes, in the array 8)."""
    runs: list[array[int]] = []
    pending: list[int] = []
    for value in values:
        pending.append(value)
        if len(pending) >= chunk:
            runs.append(array("Q", sorted(pending)))
            pending = []
    runs.append(array("Q", sorted(pending)))
    out = array("Q")
    for value in heapq.merge(*runs):
        if not (distinct and out and out[-1] == value):
            out.append(value)
    return out


def id_map_digest(study_key: str, confidential_id: str) -> int:
    """A 64-bit digest of one map entry's key (blake2b; the two strings are NUL-separated)."""
    raw = hashlib.blake2b(f"{study_key}\0{confidential_id}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big")


@dataclass(frozen=True)
class IdMapDigests:
    """Which map entries exist, in 8 bytes per entry (a Python set of the strings takes about 20 times more).

    Membership is exact up to a digest collision: the chance that any of M missing entries is taken for one
    of N existing ones is about M*N/2^64 (1e-8 for half a million of each); such an entry would show up in
    the lookup's "one entry per profile x study" check.
    """

    sorted_digests: array[int]

    def __contains__(self, item: tuple[str, str]) -> bool:
        value = id_map_digest(*item)
        index = bisect_left(self.sorted_digests, value)
        return index < len(self.sorted_digests) and self.sorted_digests[index] == value

    def __len__(self) -> int:
        return len(self.sorted_digests)

    def count(self, study_key: str, confidential_id: str) -> int:
        """How many entries have this key (the digests are sorted, so equal ones are adjacent)."""
        value = id_map_digest(study_key, confidential_id)
        return bisect_right(self.sorted_digests, value) - bisect_left(self.sorted_digests, value)
