"""Semantic rules of the configuration, each returning `(location, message)` pairs.

The rules read either the typed dictionaries the YAML decoder builds or the finished pydantic models,
so the loader can report every problem of a document at once and a model built in code is held to the
same rules. A location is a tuple of field names and list indices; a value that failed to decode is
absent (or `FAILED` in a list) and its rules are skipped, because its error is already reported.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Iterator, Sequence
from typing import Any, Final

from pydantic import SecretStr

from usermgmt_pipeline.account_hash import MIN_KEY_LENGTH
from usermgmt_pipeline.case.connections import (
    PIPELINE_DB_NAME,
    connection_str_problem,
    credential_problems,
    uri_problem,
)
from usermgmt_pipeline.config.cron import cron_problem
from usermgmt_pipeline.config.task_flags import TASK_FLAGS, TaskFlag

Loc = tuple[str | int, ...]
RuleError = tuple[Loc, str]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


MISSING: Final = _Sentinel("MISSING")
FAILED: Final = _Sentinel("FAILED")

DURATION_HINT = 'use a Go duration string such as "168h", "90m" or "1h30m"'
DB_KEYS = ("participant_user_db", "global_infos_db", "messaging_db", "study_db")
INSTANCE_DB_SUFFIXES = {"participant_user_db": "_users", "messaging_db": "_messageDB", "study_db": "_studyDB"}
GLOBAL_INFOS_DB_NAME = "global-infos"
MAX_DB_NAME_BYTES = 63
MIN_LEASE_NS = 10**9
MIN_AUDIT_RETENTION_NS = 720 * 3600 * 10**9
"""30 days: an account's history (`user-management history`) must cover at least a month of daily runs and
everything a finished journal entry still records by default (`journal_retention`, 720h)."""
MAX_LEASE_NS = 3600 * 10**9
_MONGO_FORBIDDEN_DB_CHARS = frozenset('/\\. "$*<>:|?\0')
_MONGO_FORBIDDEN_TEXT = '/\\. "$*<>:|? and NUL'
_INSTANCE_ID = re.compile(r"[A-Za-z0-9_-]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def get(obj: Any, name: str) -> Any:
    """A field of a decoded dictionary or of a model; `MISSING` when it failed to decode."""
    if isinstance(obj, dict):
        return obj.get(name, MISSING)
    return getattr(obj, name, MISSING)


def is_set(value: Any) -> bool:
    return value is not MISSING and value is not FAILED


def secret_text(value: Any) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def format_loc(loc: Loc) -> str:
    """`a.b[2].c` from a location, for messages of models built in code."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _int_rule(obj: Any, name: str, minimum: int, why: str) -> Iterator[RuleError]:
    value = get(obj, name)
    if is_set(value) and value is not None and value < minimum:
        bound = "greater than 0" if minimum == 1 else f"{minimum} or more"
        yield (name,), f"must be {bound} ({why})"


def logging_errors(cfg: Any) -> list[RuleError]:
    return [
        *_int_rule(cfg, "max_size", 0, "megabytes before the log file is rotated; 0 means 100"),
        *_int_rule(cfg, "max_age", 0, "days to keep rotated files; 0 keeps them regardless of age"),
        *_int_rule(cfg, "max_backups", 0, "number of rotated files to keep; 0 keeps all"),
    ]


def _credential_env_var(db_key: str | None, field: str) -> str:
    return f" (env override: {db_key.upper()}_{field.upper()})" if db_key else ""


def db_config_errors(cfg: Any, db_key: str | None = None) -> list[RuleError]:
    errors: list[RuleError] = []
    connection_str = get(cfg, "connection_str")
    if is_set(connection_str) and not connection_str:
        errors.append(
            (
                ("connection_str",),
                'must not be empty: it is the host part of the MongoDB URI, e.g. "localhost:27017"',
            )
        )
    errors += _int_rule(
        cfg,
        "timeout",
        1,
        "seconds; the Go job uses it as the deadline of every database operation, so 0 makes every "
        "operation fail",
    )
    errors += _int_rule(cfg, "idle_conn_timeout", 0, "seconds; 0 means pooled connections never expire")
    errors += _int_rule(cfg, "max_pool_size", 0, "0 means no limit")
    prefix = get(cfg, "db_name_prefix")
    if is_set(prefix) and _MONGO_FORBIDDEN_DB_CHARS.intersection(prefix):
        errors.append(
            (
                ("db_name_prefix",),
                f"contains characters MongoDB forbids in database names ({_MONGO_FORBIDDEN_TEXT})",
            )
        )
    if is_set(connection_str) and connection_str:
        problem = connection_str_problem(connection_str)
        prefix_given = get(cfg, "connection_prefix")
        if problem:
            errors.append((("connection_str",), problem))
        elif is_set(prefix_given):
            unusable = uri_problem(prefix_given, connection_str)
            if unusable:
                errors.append(((unusable[0],), unusable[1]))
    username, password = get(cfg, "username"), get(cfg, "password")
    if is_set(username) and is_set(password):
        for field, message in credential_problems(secret_text(username), secret_text(password)):
            errors.append(((field,), f"{message}{_credential_env_var(db_key, field)}"))
        has_user, has_password = bool(secret_text(username)), bool(secret_text(password))
        if has_user != has_password:
            empty, other = ("password", "username") if has_user else ("username", "password")
            errors.append(
                (
                    (empty,),
                    f"must not be empty when {other} is set: give both for authentication or leave "
                    f"both empty for none{_credential_env_var(db_key, empty)}",
                )
            )
    return errors


def smtp_bridge_errors(cfg: Any) -> list[RuleError]:
    errors = list(_int_rule(cfg, "timeout", 0, "seconds"))
    timeout, request_timeout = get(cfg, "timeout"), get(cfg, "request_timeout")
    if is_set(request_timeout) and request_timeout is not None and request_timeout < 0:
        errors.append((("request_timeout",), f"negative durations are not allowed; {DURATION_HINT}"))
    if is_set(timeout) and is_set(request_timeout) and timeout is not None and request_timeout is not None:
        errors.append(
            (
                (),
                'both "timeout" and "request_timeout" are given; they are two spellings of the same '
                "setting, keep only one",
            )
        )
    return errors


def mtls_errors(cfg: Any) -> list[RuleError]:
    errors: list[RuleError] = []
    for name in ("cert_file", "key_file"):
        value = get(cfg, name)
        if is_set(value) and not value:
            errors.append(((name,), "must not be empty: mTLS needs a client certificate and its key"))
    return errors


def external_service_errors(cfg: Any) -> list[RuleError]:
    errors: list[RuleError] = []
    url = get(cfg, "url")
    if is_set(url) and not url:
        errors.append((("url",), "must not be empty: study rules send their external events to this URL"))
    errors += _int_rule(cfg, "timeout", 0, "seconds; 0 means no timeout")
    mtls = get(cfg, "mtls_config")
    if is_set(mtls) and mtls is not None:
        errors += [(("mtls_config", *loc), message) for loc, message in mtls_errors(mtls)]
    return errors


def _time_zone_problem(name: Any) -> str | None:
    if not is_set(name):
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except Exception:  # ZoneInfo raises several types (not found, bad path, bad key); all mean "unknown"
        return f'unknown IANA time zone {quoted(name)}; use a name such as "UTC" or "Europe/Berlin"'
    return None


def study_errors(cfg: Any) -> list[RuleError]:
    errors: list[RuleError] = []
    problem = _time_zone_problem(get(cfg, "time_zone"))
    if problem:
        errors.append((("time_zone",), problem))
    services = get(cfg, "external_services")
    if is_set(services):
        for index, service in enumerate(services):
            if is_set(service):
                errors += [
                    (("external_services", index, *loc), message)
                    for loc, message in external_service_errors(service)
                ]
    return errors


def orchestration_errors(cfg: Any) -> list[RuleError]:
    errors: list[RuleError] = []
    emails = get(cfg, "operator_emails")
    if is_set(emails):
        for index, email in enumerate(emails):
            if is_set(email) and not _EMAIL.fullmatch(email):
                errors.append((("operator_emails", index), "is not an email address"))
    share = get(cfg, "max_deletion_share")
    if is_set(share) and not 0 < share <= 1:
        errors.append(
            (
                ("max_deletion_share",),
                "must be greater than 0 and at most 1 (the share of an instance's users one run may "
                "delete, e.g. 0.1 for 10%)",
            )
        )
    errors += _int_rule(
        cfg,
        "min_guarded_orphan_entries",
        0,
        "the confidential-ID map entries of deleted accounts one run may remove whatever their share; "
        "0 applies the share alone",
    )
    cron = get(cfg, "schedule_cron")
    if is_set(cron):
        problem = cron_problem(cron)
        if problem:
            errors.append((("schedule_cron",), f'invalid cron expression: {problem}; e.g. "0 3 * * *"'))
    problem = _time_zone_problem(get(cfg, "schedule_timezone"))
    if problem:
        errors.append((("schedule_timezone",), problem))
    errors += _int_rule(cfg, "progress_log_every", 1, "a progress line is logged every this many users")
    errors += _int_rule(cfg, "dry_run_sample_size", 1, "how many example users a dry run lists")
    errors += _int_rule(cfg, "batch_size", 1, "how many users each bulk database call covers")
    size = get(cfg, "batch_size")
    if is_set(size) and isinstance(size, int) and size > 10_000:
        errors.append(
            (("batch_size",), "must be at most 10000 (one bulk call per step covers this many users)")
        )
    for key, what in (
        ("journal_retention", "how long finished crash-journal entries are kept"),
        ("audit_retention", "how long audit records are kept"),
    ):
        value = get(cfg, key)
        if is_set(value) and isinstance(value, int) and value <= 0:
            errors.append(((key,), f"must be greater than 0 ({what}); {DURATION_HINT}"))
    audit_retention = get(cfg, "audit_retention")
    if (
        is_set(audit_retention)
        and isinstance(audit_retention, int)
        and 0 < audit_retention < MIN_AUDIT_RETENTION_NS
    ):
        errors.append(
            (
                ("audit_retention",),
                "must be at least 720h (30 days): audit records are an account's history "
                "(user-management history) and serve operators following up a month of runs; "
                f'{DURATION_HINT}, e.g. "9600h"',
            )
        )
    lease = get(cfg, "instance_lease")
    if is_set(lease) and isinstance(lease, int) and not MIN_LEASE_NS <= lease <= MAX_LEASE_NS:
        errors.append(
            (
                ("instance_lease",),
                "must be between 1s and 1h (how long a run's claim on an instance outlives its last "
                f"heartbeat; a killed run's instance stays blocked that long); {DURATION_HINT}",
            )
        )
    errors += _account_hash_key_errors(get(cfg, "account_hash_key"))
    return errors


def _account_hash_key_errors(key: Any) -> list[RuleError]:
    if is_set(key) and 0 < len(secret_text(key)) < MIN_KEY_LENGTH:
        return [
            (
                ("account_hash_key",),
                f"must be at least {MIN_KEY_LENGTH} characters (a short key can be guessed, and with it every "
                "account hash in the audit log reversed); leave it empty to record no hashes",
            )
        ]
    return []


def enabled_flags(run_tasks: Any, flags: Sequence[TaskFlag] = TASK_FLAGS) -> list[TaskFlag]:
    """The enabled flags of `run_tasks` (a decoded dict or a model), in the order of `flags`."""
    if not is_set(run_tasks):
        return []
    return [flag for flag in flags if get(run_tasks, flag.name) is True]


def enabled_tasks(run_tasks: Any, flags: Sequence[TaskFlag] = TASK_FLAGS) -> list[str]:
    return [flag.name for flag in enabled_flags(run_tasks, flags)]


def _instance_id_errors(cfg: Any) -> list[RuleError]:
    instance_ids = get(cfg, "instance_ids")
    if not is_set(instance_ids):
        return []
    db_configs = get(cfg, "db_configs")
    prefixes: dict[str, str] = {}
    if is_set(db_configs):
        for db_key in INSTANCE_DB_SUFFIXES:
            db = get(db_configs, db_key)
            prefix: Any = get(db, "db_name_prefix") if is_set(db) else MISSING
            prefixes[db_key] = prefix if is_set(prefix) else ""
    errors: list[RuleError] = []
    first_index: dict[str, int] = {}
    for index, iid in enumerate(instance_ids):
        if not is_set(iid):
            continue
        loc: Loc = ("instance_ids", index)
        if not iid:
            errors.append((loc, "must not be empty: instance IDs become part of database names"))
            continue
        if not _INSTANCE_ID.fullmatch(iid):
            errors.append(
                (
                    loc,
                    f"{quoted(iid)} cannot be used in database names: only letters A-Z and a-z, digits, "
                    f'"_" and "-" are allowed (MongoDB forbids {_MONGO_FORBIDDEN_TEXT} in database names; '
                    "we also keep partition keys simple)",
                )
            )
            continue
        if iid in first_index:
            errors.append(
                (loc, f"duplicate instance ID {quoted(iid)}, already at instance_ids[{first_index[iid]}]")
            )
            continue
        first_index[iid] = index
        names = [prefixes.get(db_key, "") + iid + suffix for db_key, suffix in INSTANCE_DB_SUFFIXES.items()]
        longest = max(names, key=lambda name: len(name.encode("utf-8")))
        size = len(longest.encode("utf-8"))
        if size > MAX_DB_NAME_BYTES:
            errors.append(
                (
                    loc,
                    f"makes the database name {quoted(longest)} {size} bytes long; MongoDB database names "
                    f"must be shorter than 64 bytes, so shorten the instance ID or db_name_prefix",
                )
            )
    return errors


def _global_infos_name_errors(cfg: Any) -> list[RuleError]:
    """Both databases under the global_infos_db prefix: CASE's `global-infos` and our own, the longer one.

    Checking only `global-infos` let a prefix pass that then failed at run time on our own database.
    """
    db_configs = get(cfg, "db_configs")
    db = get(db_configs, "global_infos_db") if is_set(db_configs) else MISSING
    prefix: Any = get(db, "db_name_prefix") if is_set(db) else MISSING
    if not is_set(prefix):
        return []
    for suffix, why in ((GLOBAL_INFOS_DB_NAME, ""), (PIPELINE_DB_NAME, " (this job's own journal)")):
        name = prefix + suffix
        size = len(name.encode("utf-8"))
        if size > MAX_DB_NAME_BYTES:
            return [
                (
                    ("db_configs", "global_infos_db", "db_name_prefix"),
                    f"makes the database name {quoted(name)}{why} {size} bytes long; MongoDB database "
                    "names must be shorter than 64 bytes",
                )
            ]
    return []


def _threshold_errors(cfg: Any, flags: Sequence[TaskFlag]) -> list[RuleError]:
    durations = get(cfg, "user_management_config")
    if not is_set(durations):
        return []
    errors: list[RuleError] = []
    for flag in enabled_flags(get(cfg, "run_tasks"), flags):
        for threshold in flag.thresholds:
            value = get(durations, threshold.key)
            if is_set(value) and value == 0:
                errors.append(
                    (
                        ("user_management_config", threshold.key),
                        f"must be greater than zero because run_tasks.{flag.name} is enabled ({threshold.why}); "
                        f"{DURATION_HINT}",
                    )
                )
    return errors


def _global_secret_errors(cfg: Any, flags: Sequence[TaskFlag]) -> list[RuleError]:
    study = get(cfg, "study_configs")
    secret = get(study, "global_secret") if is_set(study) else MISSING
    if not is_set(secret) or secret_text(secret):
        return []
    needing = [f.name for f in enabled_flags(get(cfg, "run_tasks"), flags) if f.needs_global_secret]
    if not needing:
        return []
    tasks = ", ".join(f"run_tasks.{task}" for task in needing)
    verb = "is" if len(needing) == 1 else "are"
    return [
        (
            ("study_configs", "global_secret"),
            f"must not be empty because {tasks} {verb} enabled: participant IDs are derived from it "
            "(deleting users runs the study engine); set it here or with STUDY_GLOBAL_SECRET",
        )
    ]


def cross_section_errors(cfg: Any, flags: Sequence[TaskFlag] = TASK_FLAGS) -> list[RuleError]:
    """Rules that combine sections: instance IDs vs. database names, tasks (`flags`) vs. thresholds and secret."""
    return [
        *_instance_id_errors(cfg),
        *_global_infos_name_errors(cfg),
        *_threshold_errors(cfg, flags),
        *_global_secret_errors(cfg, flags),
    ]


def _nested(prefix: Loc, errors: list[RuleError]) -> list[RuleError]:
    return [((*prefix, *loc), message) for loc, message in errors]


def app_errors(cfg: Any, flags: Sequence[TaskFlag] = TASK_FLAGS) -> list[RuleError]:
    """Every rule of a whole configuration, section rules first, in document order."""
    errors: list[RuleError] = []
    section = get(cfg, "logging")
    if is_set(section):
        errors += _nested(("logging",), logging_errors(section))
    db_configs = get(cfg, "db_configs")
    if is_set(db_configs):
        for db_key in DB_KEYS:
            db = get(db_configs, db_key)
            if is_set(db):
                errors += _nested(("db_configs", db_key), db_config_errors(db, db_key))
    messaging = get(cfg, "messaging_configs")
    smtp = get(messaging, "smtp_bridge_config") if is_set(messaging) else MISSING
    if is_set(smtp):
        errors += _nested(("messaging_configs", "smtp_bridge_config"), smtp_bridge_errors(smtp))
    section = get(cfg, "study_configs")
    if is_set(section):
        errors += _nested(("study_configs",), study_errors(section))
    section = get(cfg, "orchestration")
    if is_set(section):
        errors += _nested(("orchestration",), orchestration_errors(section))
    return errors + cross_section_errors(cfg, flags)
