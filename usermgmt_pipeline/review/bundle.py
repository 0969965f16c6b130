"""The review bundle on disk.

    DIR/                      0700, marked by `.usermgmt-review` (we never chmod or fill a folder that is not ours;
                              one owned by another user or writable by others is refused, see `files`)
      users.jsonl, users.csv  every listed user of every task and instance (rebuilt from parts/; in the CSV a
                              cell that starts like a formula is prefixed with ' so that no spreadsheet runs it)
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
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from usermgmt_pipeline.review.files import (
    TEMP_SUFFIX,
    PrivateFolder,
    open_private_folder,
)
from usermgmt_pipeline.review.files import (
    ReviewDirError as ReviewDirError,  # raised by open_bundle; re-exported for its callers
)

MARKER = ".usermgmt-review"
GENERATED = ("parts", "emails", "users.jsonl", "users.csv", "index.html")
"""What a run writes into the folder (and `clear` removes); the marker stays."""
TIMESTAMP_COLUMNS = (
    "created_at",
    "account_confirmed_at",
    "last_login",
    "last_token_refresh",
    "reminder_to_confirm_sent_at",
    "marked_for_deletion",
)
"""The user's timestamps a row shows, named as `User` names them."""
CSV_COLUMNS = [
    "instance_id",
    "task",
    "user_id",
    "account_id",
    "planned_action",
    "threshold",
    "selected_because",
    *TIMESTAMP_COLUMNS,
    "message_type",
    "language",
    "email_language",
    "email_file",
    "leave_rule_studies",
]


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Cell starts a spreadsheet takes for a formula (OWASP, CSV injection): `=HYPERLINK(…&D2…)` in a user's
language, or an address such as `=1+2@x.org` (CASE accepts it), would run when the reviewer opens the CSV."""


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs: a text starting like a formula gets a leading `'` (OWASP's advice).

    Only users.csv is written this way; users.jsonl and index.html keep the value exactly as stored."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


def open_bundle(path: str | Path) -> ReviewBundle:
    """Create the bundle folder, or reopen one we created; refuse any other existing folder.

    Refused (`ReviewDirError`): a path that is a symbolic link or not a folder, a folder owned by another
    user or writable by group or others (see `files`), and a non-empty folder without our marker."""
    root = Path(path)
    existed = os.path.lexists(root)
    if not existed and not root.parent.is_dir():
        raise ReviewDirError(f"review folder {root}: parent folder {root.parent} does not exist")
    with open_private_folder(root, create=not existed) as folder:
        if folder.entries() and folder.kind(MARKER) != "file":
            raise ReviewDirError(f"review folder {root} is not empty and is not a review bundle")
        folder.tighten()
        if folder.kind(MARKER) is None:
            folder.write(MARKER, "usermgmt_pipeline review bundle\n")
    return ReviewBundle(root)


class ReviewBundle:
    """The files of one bundle; every call reopens and re-verifies the folder (`files.open_private_folder`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @contextmanager
    def _folder(self, *parts: str, create: bool = True) -> Iterator[PrivateFolder]:
        with ExitStack() as stack:
            folder = stack.enter_context(open_private_folder(self.root, create=False))
            for part in parts:
                folder = stack.enter_context(folder.subfolder(_safe(part), create=create))
            yield folder

    def clear(self) -> ReviewBundle:
        """Forget an earlier review in this folder (a new CLI run starts a new bundle)."""
        with self._folder() as folder:
            for name in folder.entries():
                if name in GENERATED or (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
                    folder.remove(name)
        return self

    # --- what tasks write -------------------------------------------------------------------------------
    def write_rows(self, instance_id: str, task: str, rows: Iterable[Mapping[str, Any]]) -> None:
        text = "".join(json.dumps(dict(row), sort_keys=True) + "\n" for row in rows)
        with self._folder("parts", instance_id) as folder:
            folder.write(f"{_safe(task)}.jsonl", text)

    def write_summary(self, instance_id: str, task: str, summary: Mapping[str, Any]) -> None:
        text = json.dumps(dict(summary), indent=2, sort_keys=True, default=str)
        with self._folder("parts", instance_id) as folder:
            folder.write(f"{_safe(task)}.json", text)

    def email_path(self, instance_id: str, message_type: str, language: str) -> str:
        """The email's path relative to the bundle root (the link the rows and the page use)."""
        return f"emails/{_safe(instance_id)}/{_safe(message_type)}.{_safe(language or 'default')}.html"

    def write_email(
        self, instance_id: str, message_type: str, language: str, content: str, meta: Mapping[str, Any]
    ) -> str:
        relative = self.email_path(instance_id, message_type, language)
        with self._folder("emails", instance_id) as folder:
            folder.write(Path(relative).name, content)
            folder.write(Path(relative).stem + ".json", json.dumps(dict(meta), indent=2, default=str))
        return relative

    # --- what readers use --------------------------------------------------------------------------------
    def _parts(self, suffix: str, instance_id: str | None = None) -> list[str]:
        """The texts of parts/<instance>/*<suffix>, in name order; links and other odd entries are skipped."""
        texts: list[str] = []
        with self._folder() as root:
            if root.kind("parts") != "dir":
                return []
            with root.subfolder("parts", create=False) as parts:
                for name in parts.entries():
                    if parts.kind(name) != "dir" or (instance_id is not None and name != _safe(instance_id)):
                        continue
                    with parts.subfolder(name, create=False) as folder:
                        texts += [
                            folder.read(f)
                            for f in folder.entries()
                            if f.endswith(suffix) and not f.startswith(".") and folder.kind(f) == "file"
                        ]
        return texts

    def rows(self, instance_id: str | None = None) -> list[dict[str, Any]]:
        return [
            json.loads(line)
            for text in self._parts(".jsonl", instance_id)
            for line in text.splitlines()
            if line
        ]

    def summaries(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self._parts(".json")]

    def rebuild(self) -> None:
        """Rewrite users.jsonl, users.csv and index.html from every part."""
        from usermgmt_pipeline.review.page import render_index

        rows = self.rows()
        buffer = io.StringIO()
        # RFC 4180's CRLF: the writer quotes a field holding any line-ending character only if it is in the
        # terminator, and a lone \r left unquoted would split the row in every reader.
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            cells = {**row, "leave_rule_studies": " ".join(row.get("leave_rule_studies") or [])}
            writer.writerow({key: spreadsheet_safe(value) for key, value in cells.items()})
        page = render_index(rows, self.summaries())
        with self._folder() as folder:
            folder.write("users.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
            folder.write("users.csv", buffer.getvalue())
            folder.write("index.html", page)
