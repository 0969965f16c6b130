"""`index.html`: one self-contained page (inline style and script, no external asset, no network)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;
vertical-align:top}th{background:#f2f2f2}table.sortable th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
.warn{color:#a40000;font-weight:600}.ok{color:#1a6b1a}.note{color:#555}code{font-size:.95em}
"""

SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, column) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].textContent, y = b.cells[column].textContent;
      return (ascending ? 1 : -1) * x.localeCompare(y, undefined, {numeric: true});
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

USER_COLUMNS = [
    ("instance_id", "instance"),
    ("task", "task"),
    ("user_id", "user id"),
    ("account_id", "account id"),
    ("planned_action", "planned action"),
    ("threshold", "threshold"),
    ("selected_because", "selected because"),
    ("message_type", "email"),
    ("language", "language"),
    ("leave_rule_studies", "LEAVE rules run in"),
]


def _cell(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if key == "message_type" and row.get("email_file"):
        label = f"{value} ({row.get('email_language') or 'default'})"
        return f'<a href="{escape(str(row["email_file"]))}">{escape(label)}</a>'
    if key == "message_type" and row.get("email_error"):
        return f'{escape(str(value))} <span class="warn">{escape(str(row["email_error"]))}</span>'
    if isinstance(value, list):  # a study once per profile that takes part: "influenzanet ×2"
        counted = {str(v): value.count(v) for v in value}
        return escape(", ".join(k if n == 1 else f"{k} ×{n}" for k, n in counted.items()))
    return escape("" if value is None else str(value))


def render_index(rows: Sequence[Mapping[str, Any]], summaries: Sequence[Mapping[str, Any]]) -> str:
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    counts = []
    for s in summaries:
        verdict = str(s.get("guard_verdict") or "")
        css = "warn" if "would trip" in verdict else "ok"
        listed = s.get("review_listed", "")
        counts.append(
            "<tr>"
            + "".join(
                f"<td>{escape(str(v))}</td>"
                for v in (
                    s.get("instance_id", ""),
                    s.get("task", ""),
                    s.get("selected", ""),
                    s.get("resumed", 0),
                    listed,
                    s.get("review_not_listed_deleted_earlier", ""),
                    s.get("skipped", ""),
                    s.get("failed", ""),
                )
            )
            + f'<td class="{css}">{escape(verdict)}</td></tr>'
        )
    emails = sorted(
        {
            (r["instance_id"], r["message_type"], r.get("email_language") or "", r["email_file"])
            for r in rows
            if r.get("email_file")
        }
    )
    email_items = (
        "".join(
            f'<li><a href="{escape(path)}">{escape(instance)}: {escape(mt)} ({escape(lang or "default")})</a></li>'
            for instance, mt, lang, path in emails
        )
        or "<li>none</li>"
    )
    head = "".join(f"<th>{escape(label)}</th>" for _key, label in USER_COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row, key)}</td>" for key, _label in USER_COLUMNS) + "</tr>"
        for row in rows
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>user-management dry-run review</title><style>{STYLE}</style></head>
<body>
<h1>user-management dry-run review</h1>
<p class="note">Generated {escape(generated)}. Nothing was written to any database. This page and the files beside
it contain personal data (account ids): keep them private and delete them after the review.</p>
<h2>Per task</h2>
<table id="counts"><thead><tr><th>instance</th><th>task</th><th>selected</th><th>resumed</th><th>listed</th>
<th>deleted by an earlier task</th><th>skipped</th><th>failed</th><th>mass-deletion guard</th></tr></thead>
<tbody>{"".join(counts)}</tbody></table>
<h2>Emails that would be queued</h2>
<p class="note">Rendered exactly as they would be queued; the confirmation token is replaced by
<code>TOKEN-PLACEHOLDER</code>.</p>
<ul id="emails">{email_items}</ul>
<h2>Users ({len(rows)})</h2>
<p class="note">Click a column header to sort.</p>
<table id="users" class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<script>{SCRIPT}</script>
</body></html>
"""
