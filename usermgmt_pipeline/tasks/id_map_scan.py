"""One sorted pass over the confidential-ID map and every user's profiles: the lookup's checks and its orphans.

The map (ordered by `profileID`) and all users' profile ids (ordered by id, `UsersCollections.profile_owners`)
are both sorted by the server and merged here, so memory holds one profile's entries, one batch of
candidates and the ids of undecodable users, whatever the size of the instance. (The former checks held every
profile id and one study's confidential IDs in sets, and read the map once per study.)

What the pass finds, per map entry:
- its profile belongs to a decodable user: it counts for "one entry per profile x active study";
- its profile belongs only to undecodable users: kept and reported; the user exists, the entry is not an
  orphan, and no run can fix the user's document;
- its `profileID` is not a string: kept and reported (no profile can be named by it);
- no user document holds its profile, checked again against the users collection just before it is counted
  (a user created since the sorted read began is not an orphan): an **orphan** left by a deleted account.

"Missing" and "duplicated" keep the former checks' meaning: per decodable profile x active study, the number
of entries with that study and the profile's confidential ID, whatever their `profileID`. The merge sees the
profile's own entries; a profile without one is looked up by confidential ID in batches (an entry under
another `profileID` still counts, as before), and, without CASE's unique index, the pairs held more than once
come from one server-side `$group` (one item per defect).
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from usermgmt_pipeline.case.id_mapping import compute_participant_ids
from usermgmt_pipeline.case.studies import Study, sorted_digests
from usermgmt_pipeline.case.users import UserDecodeError, decode_user
from usermgmt_pipeline.tasks.context import TaskContext

BATCH = 1000
SAMPLE_SIZE = 20

Entry = Mapping[str, Any]
OrphanHandler = Callable[[list[Entry]], int]
"""Called with each batch of confirmed orphan entries; returns how many it removed."""


@dataclass
class IdMapScan:
    entries: int = 0
    profiles: int = 0  # distinct profile ids of decodable users (with `studies` only)
    missing: int = 0
    duplicated: int = 0
    orphans: int = 0
    orphans_removed: int = 0
    undecodable_user_entries: int = 0
    unattributable_entries: int = 0
    orphan_sample: list[str] = field(default_factory=list)  # profile ids
    undecodable_user_sample: list[dict[str, str]] = field(default_factory=list)
    unattributable_sample: list[str] = field(default_factory=list)  # entry ids

    def counts(self) -> dict[str, int]:
        return {
            "missing": self.missing,
            "duplicated": self.duplicated,
            "orphans": self.orphans,
            "profiles": self.profiles,
            "entries": self.entries,
            "undecodable_user_entries": self.undecodable_user_entries,
            "unattributable_entries": self.unattributable_entries,
        }


def derived_digest(study_key: str, profile_id: str, confidential_id: str) -> int:
    """64 bits of blake2b over (study, profile, confidential ID), NUL-separated: "this profile's ID in this
    study is this one", as the lookup derived it."""
    raw = f"{study_key}\0{profile_id}\0{confidential_id}".encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


class DerivedIds:
    """The confidential IDs a run's lookup derived, 8 bytes per profile x study, for its checks.

    Why: deriving an ID (a hash or an AES-CTR call each for the participant and the confidential ID) was
    done twice per profile x study and run, once by the lookup and once by its checks. The checks only need
    to know whether an entry holds the ID the lookup derived for its profile, which a digest answers; a
    profile the lookup did not see (a user created since) is not in it and is derived as before.
    """

    def __init__(self) -> None:
        self._pending = array("Q")
        self._sorted: array[int] | None = None

    def add(self, study_key: str, profile_id: str, confidential_id: str) -> None:
        self._pending.append(derived_digest(study_key, profile_id, confidential_id))
        self._sorted = None

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, item: tuple[str, str, str]) -> bool:
        if self._sorted is None:
            self._sorted = sorted_digests(self._pending, distinct=True)
            self._pending = self._sorted
        value = derived_digest(*item)
        index = bisect_left(self._sorted, value)
        return index < len(self._sorted) and self._sorted[index] == value


def scan_id_map(
    ctx: TaskContext,
    studies: Sequence[Study] | None,
    on_orphans: OrphanHandler | None = None,
    derived: DerivedIds | None = None,
) -> IdMapScan:
    """Merge the sorted map with the sorted profiles. `studies` None: orphans only (no decoding, no per-study
    counts); otherwise the active studies whose entries every decodable profile must have. `derived`: the
    IDs this run's lookup derived, so that they are not derived again."""
    return _Merge(ctx, studies, on_orphans, derived).run()


class _Merge:
    def __init__(
        self,
        ctx: TaskContext,
        studies: Sequence[Study] | None,
        on_orphans: OrphanHandler | None,
        derived: DerivedIds | None = None,
    ):
        self.ctx = ctx
        self.derived = derived if derived else None
        self.studies = list(studies) if studies is not None else None
        self.on_orphans = on_orphans
        self.scan = IdMapScan()
        self.undecodable: set[str] = set()
        self.duplicated_keys: set[tuple[str, str]] = set()
        self.unmatched: dict[str, list[str]] = {}  # study key -> confidential IDs without an own entry
        self.orphan_candidates: list[Entry] = []

    def run(self) -> IdMapScan:
        if self.studies is not None:
            self.undecodable = self._undecodable_user_ids()
            if self.studies and not self.ctx.studies.id_map_is_unique_indexed():
                self.duplicated_keys = self.ctx.studies.duplicated_id_map_keys([s.key for s in self.studies])
        owners = _Groups(self.ctx.users.profile_owners())
        entries = self._string_profile_entries(self.ctx.studies.id_map_entries_by_profile())
        for profile_id, group in groupby(entries, key=lambda entry: entry["profileID"]):
            for earlier, users in owners.take_before(profile_id):
                self._profile(earlier, users, [])
            users = owners.take_equal(profile_id)
            if users:
                self._profile(profile_id, users, list(group))
            else:
                self._orphan_candidates(group)
        for profile_id, users in owners.take_before(None):
            self._profile(profile_id, users, [])
        for study_key in list(self.unmatched):
            self._resolve_unmatched(study_key)
        self._confirm_orphans()
        return self.scan

    def _undecodable_user_ids(self) -> set[str]:
        undecodable: set[str] = set()
        for raw in self.ctx.users.iterate({}):
            try:
                decode_user(raw)
            except UserDecodeError as exc:
                undecodable.add(exc.user_id)
        return undecodable

    def _string_profile_entries(self, entries: Iterable[Entry]) -> Iterator[Entry]:
        for entry in entries:
            self.scan.entries += 1
            if isinstance(entry.get("profileID"), str):
                yield entry
                continue
            self.scan.unattributable_entries += 1
            if len(self.scan.unattributable_sample) < SAMPLE_SIZE:
                self.scan.unattributable_sample.append(str(entry.get("_id")))

    def _profile(self, profile_id: str, user_ids: list[str], own: list[Entry]) -> None:
        if self.studies is None:
            return
        if all(user_id in self.undecodable for user_id in user_ids):
            self.scan.undecodable_user_entries += len(own)
            for entry in own:
                if len(self.scan.undecodable_user_sample) < SAMPLE_SIZE:
                    self.scan.undecodable_user_sample.append(
                        {
                            "userID": user_ids[0],
                            "profileID": profile_id,
                            "studyKey": str(entry.get("studyKey")),
                        }
                    )
            return
        self.scan.profiles += 1
        secret = self.ctx.global_secret
        for study in self.studies:
            n, cid = self._own_entries_with_derived_id(study.key, profile_id, own)
            if n == 0:
                cid = compute_participant_ids(study.identity, profile_id, secret).confidential_id
                n = sum(1 for e in own if e.get("studyKey") == study.key and e.get("confidentialID") == cid)
            if n == 0:
                pending = self.unmatched.setdefault(study.key, [])
                pending.append(cid)
                if len(pending) >= BATCH:
                    self._resolve_unmatched(study.key)
            elif n > 1 or (study.key, cid) in self.duplicated_keys:
                self.scan.duplicated += 1

    def _own_entries_with_derived_id(
        self, study_key: str, profile_id: str, own: list[Entry]
    ) -> tuple[int, str]:
        """(how many of the profile's own entries hold the ID the lookup derived for it in the study, that
        ID); (0, "") when the lookup did not derive it or no entry holds it (then it is derived here)."""
        if self.derived is None:
            return 0, ""
        matching = [
            str(e.get("confidentialID"))
            for e in own
            if e.get("studyKey") == study_key
            and isinstance(e.get("confidentialID"), str)
            and (study_key, profile_id, e["confidentialID"]) in self.derived
        ]
        return len(matching), (matching[0] if matching else "")

    def _resolve_unmatched(self, study_key: str) -> None:
        """Profiles without an own entry: count the study's entries with their confidential IDs (any profileID)."""
        cids = self.unmatched.pop(study_key, [])
        counts = self.ctx.studies.count_id_map_entries(study_key, sorted(set(cids)))
        for cid in cids:
            n = counts.get(cid, 0)
            self.scan.missing += n == 0
            self.scan.duplicated += n > 1

    def _orphan_candidates(self, group: Iterable[Entry]) -> None:
        for entry in group:
            self.orphan_candidates.append(entry)
            if len(self.orphan_candidates) >= BATCH:
                self._confirm_orphans()

    def _confirm_orphans(self) -> None:
        batch, self.orphan_candidates = self.orphan_candidates, []
        if not batch:
            return
        held = self.ctx.users.owned_profile_ids({entry["profileID"] for entry in batch})
        orphans = [entry for entry in batch if entry["profileID"] not in held]
        self.scan.orphans += len(orphans)
        for entry in orphans:
            if (
                len(self.scan.orphan_sample) < SAMPLE_SIZE
                and entry["profileID"] not in self.scan.orphan_sample
            ):
                self.scan.orphan_sample.append(entry["profileID"])
        if orphans and self.on_orphans is not None:
            self.scan.orphans_removed += self.on_orphans(orphans)


class _Groups:
    """The sorted `(profile id, user id)` stream, consumed one profile id (and all its holders) at a time."""

    def __init__(self, owners: Iterator[tuple[str, str]]) -> None:
        self._owners = owners
        self._next: tuple[str, str] | None = next(owners, None)

    def _take_group(self) -> tuple[str, list[str]]:
        assert self._next is not None
        profile_id, users = self._next[0], []
        while self._next is not None and self._next[0] == profile_id:
            users.append(self._next[1])
            self._next = next(self._owners, None)
        return profile_id, users

    def take_before(self, bound: str | None) -> Iterator[tuple[str, list[str]]]:
        """Every profile id below `bound` (all remaining ones for None), with its holders."""
        while self._next is not None and (bound is None or self._next[0] < bound):
            yield self._take_group()

    def take_equal(self, profile_id: str) -> list[str]:
        if self._next is not None and self._next[0] == profile_id:
            return self._take_group()[1]
        return []
