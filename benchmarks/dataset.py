"""Benchmark dataset: N users over two CASE instances with the shares of issue 8, written in bulk.

Why a separate generator (not `usermgmt_pipeline.demo.seed`): the demo writes a few dozen users one by one;
here we need 100 000 to 1 000 000 users written fast, deterministically (the baseline and our code must run
on identical data), and with each task's selection a known share of the instance. Every document still
comes from `usermgmt_pipeline.demo.documents`, so field names and BSON types are the CASE services' own.

Shares per instance (issue 8): 5% unverified and past the deletion threshold, 2% unverified and due a
reminder, 3% inactive and due a notice, 1% marked for deletion with the grace period over, the rest active.
Each user has 1-3 profiles; each profile takes part in each of the 3 active studies (sha256, "" = AES-CTR,
same) with probability `PARTICIPATION`, and some participants have a confidential response.
CASE's default indexes (`usermgmt_pipeline.demo.case_indexes`, case-backend's `CreateDefaultIndexes`; TTL ones as plain
indexes) are created first, as on a production deployment.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bson import Int64, ObjectId
from pymongo import MongoClient
from pymongo.collection import Collection

from usermgmt_pipeline.case.id_mapping import StudyIdentity, compute_participant_ids
from usermgmt_pipeline.demo.case_indexes import create_case_indexes
from usermgmt_pipeline.demo.documents import (
    email_template_document,
    participant_document,
    study_document,
    study_rules_document,
    user_document,
)
from usermgmt_pipeline.demo.seed import TEMPLATE_SOURCES, leave_rules

HOUR = 3600
DELETE_UNVERIFIED_AFTER_H = 168
REMIND_AFTER_H = 48
INACTIVE_AFTER_H = 8760
GRACE_H = 336

INSTANCES = ("alpha", "beta")
GLOBAL_SECRET = "bench-global-secret"
# key, idMappingMethod ("" = AES-CTR, the historical default), trackAccount
STUDIES = (("influenza", "sha256", True), ("covid", "", False), ("pilot", "same", False))
SHARES = (
    ("unverified_old", 0.05),
    ("reminder_due", 0.02),
    ("inactive", 0.03),
    ("marked_due", 0.01),
)
PARTICIPATION = 0.2
BATCH = 1000


@dataclass
class DatasetSummary:
    users: int = 0
    profiles: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    docs: int = 0
    seconds: float = 0.0

    @property
    def lookup_entries(self) -> int:
        """What a first `generate_profile_id_lookup` creates: every profile x active study."""
        return self.profiles * len(STUDIES)

    @property
    def docs_per_s(self) -> float:
        return self.docs / self.seconds if self.seconds else 0.0


class _BulkWriter:
    """Buffers documents per collection and writes them with unordered `insert_many` batches."""

    def __init__(self, summary: DatasetSummary) -> None:
        self.buffers: dict[str, tuple[Collection, list[dict[str, Any]]]] = {}
        self.summary = summary

    def add(self, collection: Collection, doc: dict[str, Any]) -> None:
        key = collection.full_name
        if key not in self.buffers:
            self.buffers[key] = (collection, [])
        buffer = self.buffers[key][1]
        buffer.append(doc)
        if len(buffer) >= BATCH:
            self._flush(key)

    def _flush(self, key: str) -> None:
        collection, buffer = self.buffers[key]
        if buffer:
            collection.insert_many(buffer, ordered=False)
            self.summary.docs += len(buffer)
            buffer.clear()

    def close(self) -> None:
        for key in list(self.buffers):
            self._flush(key)


def _oid(created_at: int, instance_no: int, kind: int, counter: int) -> ObjectId:
    """Deterministic ObjectIds, so the two copies of the dataset are byte-for-byte the same."""
    return ObjectId(created_at.to_bytes(4, "big") + bytes([instance_no, kind]) + counter.to_bytes(6, "big"))


def _state_fields(state: str, now: int, rng: random.Random) -> dict[str, Any]:
    hours = rng.randint(1, 1000)
    if state == "unverified_old":
        created = now - (DELETE_UNVERIFIED_AFTER_H + hours) * HOUR
        return {"created_at": created, "reminder_sent_at": created + (REMIND_AFTER_H + 1) * HOUR}
    if state == "reminder_due":
        return {"created_at": now - (REMIND_AFTER_H + rng.randint(1, 100)) * HOUR}
    old = now - (INACTIVE_AFTER_H + 2 * GRACE_H + hours) * HOUR
    if state == "inactive":
        last = now - (INACTIVE_AFTER_H + hours) * HOUR
        return {"created_at": old, "confirmed_at": old, "last_login": last, "last_token_refresh": last}
    if state == "marked_due":
        last = now - (INACTIVE_AFTER_H + GRACE_H + hours) * HOUR
        return {
            "created_at": old,
            "confirmed_at": old,
            "last_login": last,
            "last_token_refresh": last,
            "marked_for_deletion": now - rng.randint(1, 300) * HOUR,
        }
    last = now - rng.randint(1, INACTIVE_AFTER_H - 1) * HOUR
    return {"created_at": old, "confirmed_at": old, "last_login": last, "last_token_refresh": last}


def _states(n: int) -> list[str]:
    states: list[str] = []
    for name, share in SHARES:
        states += [name] * round(n * share)
    states += ["active"] * (n - len(states))
    return states


def drop_dataset(client: MongoClient, prefix: str) -> None:
    for name in client.list_database_names():
        if name.startswith(prefix):
            client.drop_database(name)


def generate(
    client: MongoClient,
    prefix: str,
    users: int,
    *,
    now: int,
    seed: int = 8,
    instances: Iterable[str] = INSTANCES,
) -> DatasetSummary:
    """Write `users` users split evenly over `instances` under database prefix `prefix` (dropped first)."""
    started = time.monotonic()
    summary = DatasetSummary()
    drop_dataset(client, prefix)
    instance_ids = list(instances)
    writer = _BulkWriter(summary)
    for instance_no, instance_id in enumerate(instance_ids):
        rng = random.Random(f"{seed}:{instance_id}")
        n = users // len(instance_ids) + (1 if instance_no < users % len(instance_ids) else 0)
        create_case_indexes(client, prefix, instance_id, [key for key, _m, _t in STUDIES])
        _write_instance_fixtures(client, prefix, instance_id, now, instance_no)
        users_db = client[f"{prefix}{instance_id}_users"]
        study_db = client[f"{prefix}{instance_id}_studyDB"]
        identities = [StudyIdentity(key, f"{key}-secret", method) for key, method, _track in STUDIES]
        states = _states(n)
        rng.shuffle(states)
        serial = 0
        for index, state in enumerate(states):
            fields = _state_fields(state, now, rng)
            created = fields["created_at"]
            profiles = [
                (_oid(created, instance_no, 2, index * 4 + p), p == 0)
                for p in range(rng.choices((1, 2, 3), weights=(60, 30, 10))[0])
            ]
            doc = user_document(
                account_id=f"user{index}.{instance_id}@example.org",
                language=rng.choice(("en", "de")),
                profiles=profiles,
                user_id=_oid(created, instance_no, 1, index),
                **fields,
            )
            for contact in doc["contactInfos"]:
                contact["_id"] = _oid(created, instance_no, 10, index)
            writer.add(users_db["users"], doc)
            summary.users += 1
            summary.profiles += len(profiles)
            summary.by_state[state] = summary.by_state.get(state, 0) + 1
            if index % 10 == 0:
                writer.add(
                    users_db["userAttributes"],
                    {
                        "_id": _oid(created, instance_no, 3, index),
                        "userId": doc["_id"],
                        "type": "bench",
                        "attributes": {},
                        "createdAt": Int64(created),
                    },
                )
                writer.add(
                    users_db["renewTokens"],
                    {
                        "_id": _oid(created, instance_no, 4, index),
                        "userID": str(doc["_id"]),
                        "renewToken": f"renew-{instance_id}-{index}",
                        "expiresAt": Int64(now + 30 * 24 * HOUR),
                        "sessionID": f"s{index}",
                    },
                )
            for profile_id, _main in profiles:
                for identity in identities:
                    if rng.random() >= PARTICIPATION:
                        continue
                    ids = compute_participant_ids(identity, str(profile_id), GLOBAL_SECRET)
                    participant = participant_document(ids.participant_id, entered_at=created)
                    serial += 1
                    participant["_id"] = _oid(created, instance_no, 5, serial)
                    writer.add(study_db[f"{identity.key}_participants"], participant)
                    if rng.random() < 0.5:
                        writer.add(
                            study_db[f"{identity.key}_confidentialResponses"],
                            {
                                "_id": _oid(created, instance_no, 6, serial),
                                "key": "T0.Q1",
                                "participantID": ids.confidential_id,
                                "versionID": "v1",
                                "responses": [],
                                "context": None,
                            },
                        )
    writer.close()
    summary.seconds = time.monotonic() - started
    return summary


def _write_instance_fixtures(
    client: MongoClient, prefix: str, instance_id: str, now: int, instance_no: int
) -> None:
    """Templates, studies and rules, under deterministic ids like everything else (the copies must match)."""
    messaging = client[f"{prefix}{instance_id}_messageDB"]
    overrides = {
        "from": "noreply@example.org",
        "sender": "",
        "replyTo": ["support@example.org"],
        "noReplyTo": False,
    }
    templates = [
        email_template_document(mt, tr, header_overrides=overrides) for mt, tr in TEMPLATE_SOURCES.items()
    ]
    for serial, template in enumerate(templates):
        template["_id"] = _oid(now, instance_no, 7, serial)
    messaging["email-templates"].insert_many(templates)
    study_db = client[f"{prefix}{instance_id}_studyDB"]
    for serial, (key, method, track) in enumerate(STUDIES):
        study = study_document(key, f"{key}-secret", id_mapping_method=method, track_account=track)
        study["_id"] = _oid(now, instance_no, 8, serial)
        study_db["study-infos"].insert_one(study)
        rules = study_rules_document(key, leave_rules(), now - 30 * 24 * HOUR)
        rules["_id"] = _oid(now, instance_no, 9, serial)
        study_db["studyRules"].insert_one(rules)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="MongoDB-wire server, e.g. mongodb://127.0.0.1:27017")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--prefix", default="bench_")
    args = parser.parse_args(argv)
    from server import ServerTarget

    with ServerTarget.parse(args.uri).client() as client:
        summary = generate(client, args.prefix, args.users, now=int(time.time()))
    print(
        f"generated {summary.users} users, {summary.profiles} profiles, {summary.docs} documents in "
        f"{summary.seconds:.1f}s ({summary.docs_per_s:,.0f} docs/s); states {summary.by_state}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
