"""Which users each task selects: the original's filters, verbatim (docs/case-data.md §4.1, docs/tasks.md §1).

They are re-applied, as a filter on the write itself, at every mutating step, so a user who logs in or
confirms the account while the run is under way is left alone (the original re-checked nothing).
"""

from __future__ import annotations

from typing import Any

from bson import Int64

EXCLUDED_ROLES = ["SERVICE", "RESEARCHER", "ADMIN"]


def unverified_to_delete(created_before: int) -> dict[str, Any]:
    return {
        "$and": [
            {"account.accountConfirmedAt": Int64(0)},
            {"timestamps.createdAt": {"$lt": Int64(created_before)}},
        ]
    }


def unverified_to_remind(created_before: int) -> dict[str, Any]:
    return {
        "$and": [
            {"account.accountConfirmedAt": {"$lt": Int64(1)}},
            {"timestamps.reminderToConfirmSentAt": {"$lt": Int64(1)}},
            {"timestamps.createdAt": {"$lt": Int64(created_before)}},
        ]
    }


def inactive_to_notify(last_activity_before: int) -> dict[str, Any]:
    return {
        "$and": [
            {"roles": {"$nin": EXCLUDED_ROLES}},
            {"timestamps.lastLogin": {"$lt": Int64(last_activity_before)}},
            {"timestamps.lastTokenRefresh": {"$lt": Int64(last_activity_before)}},
            {"timestamps.markedForDeletion": {"$not": {"$gt": Int64(0)}}},
        ]
    }


def marked_to_delete(now: int) -> dict[str, Any]:
    return {
        "$and": [
            {"timestamps.markedForDeletion": {"$gt": Int64(0)}},
            {"timestamps.markedForDeletion": {"$lt": Int64(now)}},
        ]
    }


ALL_USERS: dict[str, Any] = {}
