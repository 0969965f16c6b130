"""The review bundle on disk.

    DIR/                      0700, marked by `.usermgmt-review` (we never chmod or fill a folder that is not ours)
      users.jsonl, users.csv  every listed user of every task and instance (rebuilt from parts/)
      index.html              self-contained review page
      emails/<instance>/<message type>.<language>.html (+ .json: subject, headers)   the emails as queued
      parts/<instance>/<task>.jsonl, <task>.json      what each task wrote (rows, counts)

Tasks write their own part, then the shared files are rebuilt, so a CLI run over several instances (or
a rerun into the same folder) yields one consistent bundle.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from usermgmt_pipeline.review.files import private_dir, write_private

MARKER = ".usermgmt-review"
CSV_COLUMNS = [
    "instance_id",
    "task",
    "user_id",
    "account_id",
    "planned_action",
    "threshold",
    "selected_because",
    "created_at",
    "account_confirmed_at",
    "last_login",
    "last_token_refresh",
    "reminder_to_confirm_sent_at",
    "marked_for_deletion",
    "message_type",
    "language",
    "email_language",
    "email_file",
    "leave_rule_studies",
]


class ReviewDirError(ValueError):
    """The folder given for the review cannot be used (exists with other content, or is not a folder)."""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


def open_bundle(path: str | Path) -> ReviewBundle:
    """Create the bundle folder, or reopen one we created; refuse any other existing folder."""
    root = Path(path)
    if root.exists():
        if not root.is_dir():
            raise ReviewDirError(f"review folder {root} exists and is not a folder")
        if any(root.iterdir()) and not (root / MARKER).exists():
            raise ReviewDirError(f"review folder {root} is not empty and is not a review bundle")
    elif not root.parent.is_dir():
        raise ReviewDirError(f"review folder {root}: parent folder {root.parent} does not exist")
    private_dir(root)
    if not (root / MARKER).exists():
        write_private(root / MARKER, "usermgmt_pipeline review bundle\n")
    return ReviewBundle(root)


class ReviewBundle:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, *parts: str) -> Path:
        path = self.root
        for part in parts:
            path = private_dir(path / _safe(part))
        return path

    def clear(self) -> ReviewBundle:
        """Forget an earlier review in this folder (a new CLI run starts a new bundle)."""
        import shutil

        for name in ("parts", "emails"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        for name in ("users.jsonl", "users.csv", "index.html"):
            (self.root / name).unlink(missing_ok=True)
        return self

    # --- what tasks write -------------------------------------------------------------------------------
    def write_rows(self, instance_id: str, task: str, rows: Iterable[Mapping[str, Any]]) -> None:
        text = "".join(json.dumps(dict(row), sort_keys=True) + "\n" for row in rows)
        write_private(self._dir("parts", instance_id) / f"{_safe(task)}.jsonl", text)

    def write_summary(self, instance_id: str, task: str, summary: Mapping[str, Any]) -> None:
        text = json.dumps(dict(summary), indent=2, sort_keys=True, default=str)
        write_private(self._dir("parts", instance_id) / f"{_safe(task)}.json", text)

    def email_path(self, instance_id: str, message_type: str, language: str) -> str:
        """The email's path relative to the bundle root (the link the rows and the page use)."""
        return f"emails/{_safe(instance_id)}/{_safe(message_type)}.{_safe(language or 'default')}.html"

    def write_email(
        self, instance_id: str, message_type: str, language: str, content: str, meta: Mapping[str, Any]
    ) -> str:
        relative = self.email_path(instance_id, message_type, language)
        folder = self._dir("emails", instance_id)
        write_private(folder / Path(relative).name, content)
        write_private(folder / (Path(relative).stem + ".json"), json.dumps(dict(meta), indent=2, default=str))
        return relative

    # --- what readers use --------------------------------------------------------------------------------
    def rows(self, instance_id: str | None = None) -> list[dict[str, Any]]:
        parts = self.root / "parts"
        if not parts.is_dir():
            return []
        out: list[dict[str, Any]] = []
        for folder in sorted(p for p in parts.iterdir() if p.is_dir()):
            if instance_id is not None and folder.name != _safe(instance_id):
                continue
            for path in sorted(folder.glob("*.jsonl")):
                out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        return out

    def summaries(self) -> list[dict[str, Any]]:
        parts = self.root / "parts"
        if not parts.is_dir():
            return []
        return [
            json.loads(path.read_text(encoding="utf-8"))
            for folder in sorted(p for p in parts.iterdir() if p.is_dir())
            for path in sorted(folder.glob("*.json"))
        ]

    def planned_deletions(self, instance_id: str) -> set[str]:
        """User ids an earlier task of this instance's run deletes (later tasks would not see them)."""
        return {r["user_id"] for r in self.rows(instance_id) if r.get("planned_action") == "delete"}

    def rebuild(self) -> None:
        """Rewrite users.jsonl, users.csv and index.html from every part."""
        from usermgmt_pipeline.review.page import render_index

        rows = self.rows()
        write_private(self.root / "users.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "leave_rule_studies": " ".join(row.get("leave_rule_studies") or [])})
        write_private(self.root / "users.csv", buffer.getvalue())
        write_private(self.root / "index.html", render_index(rows, self.summaries()))
