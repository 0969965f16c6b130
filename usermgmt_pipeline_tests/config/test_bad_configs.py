"""Every way a config can be wrong gives exactly one precise `(path, message)` per problem."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from usermgmt_pipeline.config import ConfigError, parse_config_text
from usermgmt_pipeline_tests.config.configs import config_errors, to_yaml, valid_config

HINT = 'use a Go duration string such as "168h", "90m" or "1h30m"'
QUOTED = " (a quoted value is a string in YAML; remove the quotes)"
TOP_KEYS = (
    "logging, db_configs, instance_ids, user_management_config, messaging_configs, study_configs, "
    "run_tasks, orchestration"
)
DB_KEYS = (
    "connection_str, username, password, connection_prefix, timeout, idle_conn_timeout, max_pool_size, "
    "use_no_cursor_timeout, db_name_prefix"
)
SERVICE_KEYS = "name, url, api_key, apiKey, timeout, mTLSConfig"
TASK_KEYS = (
    "clean_up_unverified_users, send_reminder_to_confirm_accounts, handle_inactive_users, "
    "generate_profile_id_lookup, migrate_account_info"
)
ORCHESTRATION_KEYS = (
    "operator_emails, max_deletion_share, min_guarded_orphan_entries, schedule_cron, schedule_timezone, progress_log_every, "
    "dry_run_sample_size, batch_size, journal_retention, audit_retention, report_dir, "
    "instance_lease, account_hash_key"
)
BAD_ID = (
    'cannot be used in database names: only letters A-Z and a-z, digits, "_" and "-" are allowed '
    '(MongoDB forbids /\\. "$*<>:|? and NUL in database names; we also keep partition keys simple)'
)
UMC = "user_management_config"

Mutator = Callable[[dict[str, Any]], None]


def setting(*path: str | int, value: Any) -> Mutator:
    def mutate(config: dict[str, Any]) -> None:
        target = config
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
        target[path[-1]] = value

    return mutate


def removing(*path: str) -> Mutator:
    def mutate(config: dict[str, Any]) -> None:
        target = config
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def only_tasks(*tasks: str) -> Mutator:
    def mutate(config: dict[str, Any]) -> None:
        config["run_tasks"] = {task: True for task in tasks}

    return mutate


def both(*mutators: Mutator) -> Mutator:
    def mutate(config: dict[str, Any]) -> None:
        for mutator in mutators:
            mutator(config)

    return mutate


def service(**fields: Any) -> Mutator:
    return setting("study_configs", "external_services", value=[{"url": "https://ext.example", **fields}])


CASES = [
    # unknown keys at several levels
    (setting("extras", value=1), [("extras", f"unknown key; allowed keys: {TOP_KEYS}")]),
    (
        setting("db_configs", "study_db", "timeout_s", value=3),
        [("db_configs.study_db.timeout_s", f"unknown key; allowed keys: {DB_KEYS}")],
    ),
    (
        service(**{"api-key": "k"}),
        [("study_configs.external_services[0].api-key", f"unknown key; allowed keys: {SERVICE_KEYS}")],
    ),
    (
        service(mtls_config={"certFile": "c"}),
        [("study_configs.external_services[0].mtls_config", f"unknown key; allowed keys: {SERVICE_KEYS}")],
    ),
    (
        service(mTLSConfig={"certFile": "c", "keyFile": "k", "cafile": "ca"}),
        [
            (
                "study_configs.external_services[0].mTLSConfig.cafile",
                "unknown key; allowed keys: certFile, keyFile, caFile",
            )
        ],
    ),
    (
        setting("run_tasks", "cleanup_unverified_users", value=True),
        [("run_tasks.cleanup_unverified_users", f"unknown key; allowed keys: {TASK_KEYS}")],
    ),
    (
        setting("orchestration", "max_delete_share", value=0.2),
        [("orchestration.max_delete_share", f"unknown key; allowed keys: {ORCHESTRATION_KEYS}")],
    ),
    (
        setting("messaging_configs", "smtp_bridge_config", "apiKey", value="k"),
        [
            (
                "messaging_configs.smtp_bridge_config.apiKey",
                "unknown key; allowed keys: url, api_key, timeout, request_timeout",
            )
        ],
    ),
    # wrong YAML types (Go yaml.v2 rules)
    (setting("instance_ids", value={"a": "b"}), [("instance_ids", "expected a list, got !!map")]),
    (setting("run_tasks", value=[True]), [("run_tasks", "expected a mapping, got !!seq")]),
    (
        setting("db_configs", "study_db", "timeout", value=[1]),
        [("db_configs.study_db.timeout", "expected an integer, got !!seq")],
    ),
    (
        setting("db_configs", "study_db", "timeout", value=True),
        [("db_configs.study_db.timeout", "expected an integer, got !!bool")],
    ),
    (
        setting("db_configs", "study_db", "timeout", value="30"),
        [("db_configs.study_db.timeout", f"expected an integer, got !!str{QUOTED}")],
    ),
    (
        setting("logging", "max_size", value="ten"),
        [("logging.max_size", "expected an integer, got !!str")],
    ),
    (
        setting("db_configs", "study_db", "max_pool_size", value=10**20),
        [("db_configs.study_db.max_pool_size", "integer out of range (it must fit in 64 bits)")],
    ),
    (
        setting("run_tasks", "clean_up_unverified_users", value="true"),
        [("run_tasks.clean_up_unverified_users", f"expected a boolean (true or false), got !!str{QUOTED}")],
    ),
    (
        setting("run_tasks", "clean_up_unverified_users", value="maybe"),
        [("run_tasks.clean_up_unverified_users", "expected a boolean (true or false), got !!str")],
    ),
    (
        setting("run_tasks", "clean_up_unverified_users", value=1),
        [("run_tasks.clean_up_unverified_users", "expected a boolean (true or false), got !!int")],
    ),
    (service(url={"a": 1}), [("study_configs.external_services[0].url", "expected a string, got !!map")]),
    (
        setting("study_configs", "external_services", value="email-service"),
        [("study_configs.external_services", "expected a list, got !!str")],
    ),
    (
        setting("orchestration", "max_deletion_share", value="0.5"),
        [("orchestration.max_deletion_share", f"expected a number, got !!str{QUOTED}")],
    ),
    # durations: our fixes and Go's parser
    (
        setting(UMC, "delete_unverified_users_after", value=168),
        [
            (
                f"{UMC}.delete_unverified_users_after",
                f"a bare number is not accepted as a duration (Go would read 168 as nanoseconds); {HINT}",
            )
        ],
    ),
    (
        setting(UMC, "notify_after_inactive_for", value=1.5),
        [
            (
                f"{UMC}.notify_after_inactive_for",
                f"a bare number is not accepted as a duration (Go would read 1.5 as nanoseconds); {HINT}",
            )
        ],
    ),
    (
        setting(UMC, "send_reminder_to_confirm_account_after", value="-1h"),
        [
            (
                f"{UMC}.send_reminder_to_confirm_account_after",
                f'negative duration "-1h" is not allowed; {HINT}',
            )
        ],
    ),
    (
        setting(UMC, "delete_unverified_users_after", value="7d"),
        [(f"{UMC}.delete_unverified_users_after", f'unknown unit "d" in duration "7d"; {HINT}')],
    ),
    (
        setting(UMC, "delete_unverified_users_after", value=""),
        [(f"{UMC}.delete_unverified_users_after", f'invalid duration ""; {HINT}')],
    ),
    (
        setting(UMC, "delete_unverified_users_after", value="1.5.h"),
        [(f"{UMC}.delete_unverified_users_after", f'missing unit in duration "1.5.h"; {HINT}')],
    ),
    (
        setting(UMC, "delete_unverified_users_after", value="-"),
        [(f"{UMC}.delete_unverified_users_after", f'invalid duration "-"; {HINT}')],
    ),
    (
        setting(UMC, "delete_unverified_users_after", value="168"),
        [(f"{UMC}.delete_unverified_users_after", f'missing unit in duration "168"; {HINT}')],
    ),
    (
        setting(UMC, "delete_unverified_users_after", value="3000000h"),
        [(f"{UMC}.delete_unverified_users_after", f'invalid duration "3000000h"; {HINT}')],
    ),
    (
        setting(UMC, "delete_unverified_users_after", value={"hours": 168}),
        [(f"{UMC}.delete_unverified_users_after", f"expected a Go duration string, got !!map; {HINT}")],
    ),
    (
        setting("messaging_configs", "smtp_bridge_config", "request_timeout", value=30),
        [
            (
                "messaging_configs.smtp_bridge_config.request_timeout",
                f"a bare number is not accepted as a duration (Go would read 30 as nanoseconds); {HINT}",
            )
        ],
    ),
    # zero thresholds of enabled tasks
    (
        setting(UMC, "delete_unverified_users_after", value="0s"),
        [
            (
                f"{UMC}.delete_unverified_users_after",
                "must be greater than zero because run_tasks.clean_up_unverified_users is enabled "
                f"(zero would delete every unconfirmed account at once); {HINT}",
            )
        ],
    ),
    (
        setting(UMC, "email_contact_verification_token_ttl", value="0"),
        [
            (
                f"{UMC}.email_contact_verification_token_ttl",
                "must be greater than zero because run_tasks.send_reminder_to_confirm_accounts is enabled "
                f"(zero would send verification links that already expired); {HINT}",
            )
        ],
    ),
    (
        removing(UMC, "mark_for_deletion_after_inactivity_notification"),
        [
            (
                f"{UMC}.mark_for_deletion_after_inactivity_notification",
                "must be greater than zero because run_tasks.handle_inactive_users is enabled "
                f"(zero would delete users right after warning them); {HINT}",
            )
        ],
    ),
    (
        setting(UMC, "notify_after_inactive_for", value=None),
        [
            (
                f"{UMC}.notify_after_inactive_for",
                "must be greater than zero because run_tasks.handle_inactive_users is enabled "
                f"(zero would treat every user as inactive); {HINT}",
            )
        ],
    ),
    # both spellings of one setting
    (
        setting("messaging_configs", "smtp_bridge_config", value={"timeout": 30, "request_timeout": "30s"}),
        [
            (
                "messaging_configs.smtp_bridge_config",
                'both "timeout" and "request_timeout" are given; they are two spellings of the same '
                "setting, keep only one",
            )
        ],
    ),
    (
        service(api_key="a", apiKey="b"),
        [
            (
                "study_configs.external_services[0]",
                'both "api_key" and "apiKey" are given; they are two spellings of the same setting, '
                "keep only one",
            )
        ],
    ),
    # database settings
    (
        setting("db_configs", "study_db", "password", value=""),
        [
            (
                "db_configs.study_db.password",
                "must not be empty when username is set: give both for authentication or leave both "
                "empty for none (env override: STUDY_DB_PASSWORD)",
            )
        ],
    ),
    (
        removing("db_configs", "participant_user_db", "username"),
        [
            (
                "db_configs.participant_user_db.username",
                "must not be empty when password is set: give both for authentication or leave both "
                "empty for none (env override: PARTICIPANT_USER_DB_USERNAME)",
            )
        ],
    ),
    (
        setting("db_configs", "study_db", "password", value="s3cr@t"),
        [
            (
                "db_configs.study_db.password",
                "contains '@' unescaped; percent-encode it (e.g. '@' as %40, ':' as %3A, '/' as %2F) as the "
                "Go job requires (env override: STUDY_DB_PASSWORD)",
            )
        ],
    ),
    (
        setting("db_configs", "global_infos_db", "username", value="case%zzadmin"),
        [
            (
                "db_configs.global_infos_db.username",
                "contains an invalid percent-escape (Go: invalid URL escape) (env override: GLOBAL_INFOS_DB_USERNAME)",
            )
        ],
    ),
    (
        setting("db_configs", "study_db", "connection_str", value="admin:pw@mongo:27017"),
        [
            (
                "db_configs.study_db.connection_str",
                "must not contain user info ('@'): give username and password in their own keys",
            )
        ],
    ),
    (
        setting("db_configs", "study_db", "connection_str", value="mongo:27017?replicaSet=rs0"),
        [
            (
                "db_configs.study_db.connection_str",
                'must have a / before the query ? (e.g. "host:27017/?replicaSet=rs0")',
            )
        ],
    ),
    *[
        (
            setting("db_configs", "study_db", "connection_str", value=value),
            [("db_configs.study_db.connection_str", f"is not a valid MongoDB host list and options: {why}")],
        )
        for value, why in (
            (
                "::::",
                "Reserved characters such as ':' must be escaped according RFC 2396. An IPv6 address "
                "literal must be enclosed in '[' and ']' according to RFC 2732.",
            ),
            ("mongo-0:27017,mongo-1:99999/", "Port must be an integer between 0 and 65535"),
            ("mongo-0:27017,/?replicaSet=rs0", "Empty host (or extra comma in host list)"),
        )
    ],
    (
        both(
            setting("db_configs", "study_db", "connection_str", value="cluster0.example.org:27017"),
            setting("db_configs", "study_db", "connection_prefix", value="+srv"),
        ),
        [
            (
                "db_configs.study_db.connection_str",
                "is not a valid MongoDB host list and options: mongodb+srv:// URIs must not include a port "
                "number",
            )
        ],
    ),
    (
        setting("db_configs", "study_db", "connection_prefix", value="+tcp"),
        [
            (
                "db_configs.study_db.connection_prefix",
                'must be "" or "+srv" (the URI scheme is mongodb:// or mongodb+srv://)',
            )
        ],
    ),
    (
        setting("db_configs", "messaging_db", "connection_str", value=""),
        [
            (
                "db_configs.messaging_db.connection_str",
                'must not be empty: it is the host part of the MongoDB URI, e.g. "localhost:27017"',
            )
        ],
    ),
    (
        removing("db_configs", "messaging_db", "connection_str"),
        [("db_configs.messaging_db.connection_str", "required key is missing")],
    ),
    (
        setting("db_configs", "global_infos_db", "timeout", value=0),
        [
            (
                "db_configs.global_infos_db.timeout",
                "must be greater than 0 (seconds; the Go job uses it as the deadline of every database "
                "operation, so 0 makes every operation fail)",
            )
        ],
    ),
    (
        setting("db_configs", "global_infos_db", "idle_conn_timeout", value=-1),
        [
            (
                "db_configs.global_infos_db.idle_conn_timeout",
                "must be 0 or more (seconds; 0 means pooled connections never expire)",
            )
        ],
    ),
    (
        setting("db_configs", "messaging_db", "db_name_prefix", value="prod."),
        [
            (
                "db_configs.messaging_db.db_name_prefix",
                'contains characters MongoDB forbids in database names (/\\. "$*<>:|? and NUL)',
            )
        ],
    ),
    (removing("db_configs", "study_db"), [("db_configs.study_db", "required key is missing")]),
    (removing("db_configs"), [("db_configs", "required key is missing")]),
    # instance IDs
    (setting("instance_ids", value=["ok", "a.b"]), [("instance_ids[1]", f'"a.b" {BAD_ID}')]),
    (setting("instance_ids", value=["a/b"]), [("instance_ids[0]", f'"a/b" {BAD_ID}')]),
    (setting("instance_ids", value=["a b"]), [("instance_ids[0]", f'"a b" {BAD_ID}')]),
    (setting("instance_ids", value=["a$b"]), [("instance_ids[0]", f'"a$b" {BAD_ID}')]),
    (setting("instance_ids", value=["ünï"]), [("instance_ids[0]", f'"ünï" {BAD_ID}')]),
    (
        setting("instance_ids", value=["x", ""]),
        [("instance_ids[1]", "must not be empty: instance IDs become part of database names")],
    ),
    (
        setting("instance_ids", value=[None]),
        [("instance_ids[0]", "must not be empty: instance IDs become part of database names")],
    ),
    (
        setting("instance_ids", value=["a", "b", "a"]),
        [("instance_ids[2]", 'duplicate instance ID "a", already at instance_ids[0]')],
    ),
    (
        setting("instance_ids", value=["i" * 54]),
        [
            (
                "instance_ids[0]",
                f'makes the database name "{"i" * 54}_messageDB" 64 bytes long; MongoDB database names '
                "must be shorter than 64 bytes, so shorten the instance ID or db_name_prefix",
            )
        ],
    ),
    (
        both(
            setting("db_configs", "study_db", "db_name_prefix", value="p" * 20),
            setting("instance_ids", value=["i" * 40]),
        ),
        [
            (
                "instance_ids[0]",
                f'makes the database name "{"p" * 20}{"i" * 40}_studyDB" 68 bytes long; MongoDB database '
                "names must be shorter than 64 bytes, so shorten the instance ID or db_name_prefix",
            )
        ],
    ),
    (
        setting("db_configs", "global_infos_db", "db_name_prefix", value="g" * 52),
        [
            (
                "db_configs.global_infos_db.db_name_prefix",
                f'makes the database name "{"g" * 52}global-infos" 64 bytes long; MongoDB database names '
                "must be shorter than 64 bytes",
            )
        ],
    ),
    (  # global-infos fits (60 bytes), but our own journal database would not: refused before any run
        setting("db_configs", "global_infos_db", "db_name_prefix", value="g" * 48),
        [
            (
                "db_configs.global_infos_db.db_name_prefix",
                f'makes the database name "{"g" * 48}usermgmt-pipeline" (this job\'s own journal) 65 bytes '
                "long; MongoDB database names must be shorter than 64 bytes",
            )
        ],
    ),
    # study configs and global secret
    (
        setting("study_configs", "time_zone", value="Mars/Olympus_Mons"),
        [
            (
                "study_configs.time_zone",
                'unknown IANA time zone "Mars/Olympus_Mons"; use a name such as "UTC" or "Europe/Berlin"',
            )
        ],
    ),
    (
        both(only_tasks("clean_up_unverified_users"), setting("study_configs", "global_secret", value="")),
        [
            (
                "study_configs.global_secret",
                "must not be empty because run_tasks.clean_up_unverified_users is enabled: participant IDs "
                "are derived from it (deleting users runs the study engine); set it here or with "
                "STUDY_GLOBAL_SECRET",
            )
        ],
    ),
    (
        both(only_tasks("handle_inactive_users", "migrate_account_info"), removing("study_configs")),
        [
            (
                "study_configs.global_secret",
                "must not be empty because run_tasks.handle_inactive_users, run_tasks.migrate_account_info "
                "are enabled: participant IDs are derived from it (deleting users runs the study engine); "
                "set it here or with STUDY_GLOBAL_SECRET",
            )
        ],
    ),
    (
        service(url=""),
        [
            (
                "study_configs.external_services[0].url",
                "must not be empty: study rules send their external events to this URL",
            )
        ],
    ),
    (
        service(mTLSConfig={"certFile": "c.pem"}),
        [
            (
                "study_configs.external_services[0].mTLSConfig.keyFile",
                "must not be empty: mTLS needs a client certificate and its key",
            )
        ],
    ),
    # orchestration (our key)
    # the threads it sized were replaced by batches before any release: an unknown key like any other
    (
        setting("orchestration", "user_workers", value=1),
        [("orchestration.user_workers", f"unknown key; allowed keys: {ORCHESTRATION_KEYS}")],
    ),
    (
        setting("orchestration", "batch_size", value=0),
        [
            (
                "orchestration.batch_size",
                "must be greater than 0 (how many users each bulk database call covers)",
            )
        ],
    ),
    (
        setting("orchestration", "batch_size", value=20_000),
        [
            (
                "orchestration.batch_size",
                "must be at most 10000 (one bulk call per step covers this many users)",
            )
        ],
    ),
    *[
        (
            setting("orchestration", "instance_lease", value=value),
            [
                (
                    "orchestration.instance_lease",
                    "must be between 1s and 1h (how long a run's claim on an instance outlives its last "
                    "heartbeat; a killed run's instance stays blocked that long); "
                    'use a Go duration string such as "168h", "90m" or "1h30m"',
                )
            ],
        )
        for value in ("500ms", "2h")
    ],
    (
        setting("orchestration", "journal_retention", value="0s"),
        [
            (
                "orchestration.journal_retention",
                "must be greater than 0 (how long finished crash-journal entries are kept); "
                'use a Go duration string such as "168h", "90m" or "1h30m"',
            )
        ],
    ),
    (
        setting("orchestration", "audit_retention", value="0h"),
        [
            (
                "orchestration.audit_retention",
                "must be greater than 0 (how long audit records are kept); "
                'use a Go duration string such as "168h", "90m" or "1h30m"',
            )
        ],
    ),
    (
        setting("orchestration", "min_guarded_orphan_entries", value=-1),
        [
            (
                "orchestration.min_guarded_orphan_entries",
                "must be 0 or more (the confidential-ID map entries of deleted accounts one run may remove "
                "whatever their share; 0 applies the share alone)",
            )
        ],
    ),
    *[
        (
            setting("orchestration", "audit_retention", value=value),
            [
                (
                    "orchestration.audit_retention",
                    "must be at least 720h (30 days): audit records are an account's history "
                    "(user-management history) and serve operators following up a month of runs; "
                    'use a Go duration string such as "168h", "90m" or "1h30m", e.g. "9600h"',
                )
            ],
        )
        for value in ("1s", "1h30m", "719h59m59s")
    ],
    (
        setting("orchestration", "schedule_cron", value="0 3 * *"),
        [
            (
                "orchestration.schedule_cron",
                "invalid cron expression: expected 5 fields (minute hour day-of-month month day-of-week), "
                'got 4; e.g. "0 3 * * *"',
            )
        ],
    ),
    (
        setting("orchestration", "schedule_cron", value="61 3 * * *"),
        [
            (
                "orchestration.schedule_cron",
                'invalid cron expression: the minute field allows * or values from 0 to 59; e.g. "0 3 * * *"',
            )
        ],
    ),
    (
        setting("orchestration", "schedule_timezone", value="Berlin"),
        [
            (
                "orchestration.schedule_timezone",
                'unknown IANA time zone "Berlin"; use a name such as "UTC" or "Europe/Berlin"',
            )
        ],
    ),
    *[
        (
            setting("orchestration", "max_deletion_share", value=share),
            [
                (
                    "orchestration.max_deletion_share",
                    "must be greater than 0 and at most 1 (the share of an instance's users one run may "
                    "delete, e.g. 0.1 for 10%)",
                )
            ],
        )
        for share in (0, 1.5, -0.1, float("nan"))
    ],
    (
        setting("orchestration", "progress_log_every", value=0),
        [
            (
                "orchestration.progress_log_every",
                "must be greater than 0 (a progress line is logged every this many users)",
            )
        ],
    ),
    (
        setting("orchestration", "operator_emails", value=["ops@example.org", "ops"]),
        [("orchestration.operator_emails[1]", "is not an email address")],
    ),
    (
        setting("logging", "max_backups", value=-3),
        [("logging.max_backups", "must be 0 or more (number of rotated files to keep; 0 keeps all)")],
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), CASES)
def test_bad_config_is_rejected_with_exact_errors(mutate: Mutator, expected: list[tuple[str, str]]) -> None:
    config = valid_config()
    mutate(config)
    assert config_errors(config) == expected


def _line_of(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


def test_duplicate_struct_key_is_rejected_with_the_first_line() -> None:
    text = to_yaml(valid_config())
    first = "  migrate_account_info: true"
    bad = text.replace(first + "\n", first + "\n  migrate_account_info: false\n")
    assert config_errors(bad) == [
        ("run_tasks.migrate_account_info", f"duplicate key (first given on line {_line_of(text, first)})")
    ]


def test_duplicate_top_level_key_is_rejected() -> None:
    text = to_yaml(valid_config()) + "instance_ids: [other]\n"
    line = _line_of(text, "instance_ids:")
    assert config_errors(text) == [("instance_ids", f"duplicate key (first given on line {line})")]


def test_duplicate_key_in_free_form_map_is_rejected_even_with_other_quoting() -> None:
    config = valid_config()
    config["messaging_configs"] = {"global_email_template_constants": {"app_name": "A", "site": "B"}}
    text = to_yaml(config)
    bad = text.replace("    site: B\n", "    site: B\n    'app_name': C\n")
    assert config_errors(bad) == [
        (
            "messaging_configs.global_email_template_constants.app_name",
            f"duplicate key (first given on line {_line_of(text, '    app_name: A')})",
        )
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [("(root)", "the configuration is empty; expected a mapping of configuration keys")]),
        (
            "# only a comment\n",
            [("(root)", "the configuration is empty; expected a mapping of configuration keys")],
        ),
        ("~\n", [("(root)", "the configuration is empty; expected a mapping of configuration keys")]),
        ("- a\n- b\n", [("(root)", "expected a mapping of configuration keys at the top level, got !!seq")]),
        ("just text\n", [("(root)", "expected a mapping of configuration keys at the top level, got !!str")]),
        (
            "a: [\n",
            [
                (
                    "(root)",
                    "YAML syntax error at line 2, column 1: while parsing a flow node; expected the node "
                    "content, but found '<stream end>'",
                )
            ],
        ),
        (
            "a: 1\n---\nb: 2\n",
            [
                (
                    "(root)",
                    "YAML syntax error at line 2, column 1: expected a single document in the stream; but found another document",
                )
            ],
        ),
        (
            "a: *nowhere\n",
            [("(root)", "YAML syntax error at line 1, column 4: found undefined alias 'nowhere'")],
        ),
    ],
)
def test_unusable_documents_give_one_clear_error(text: str, expected: list[tuple[str, str]]) -> None:
    assert config_errors(text) == expected


def test_merge_key_with_a_scalar_is_rejected() -> None:
    text = to_yaml(valid_config()).replace("  study_db:\n", "  study_db:\n    <<: nothing\n")
    assert config_errors(text) == [
        ('db_configs.study_db["<<"]', "a merge key needs a mapping or a list of mappings, got !!str")
    ]


def test_non_string_mapping_key_is_rejected() -> None:
    text = to_yaml(valid_config()).replace("run_tasks:\n", "run_tasks:\n  ? [a, b]\n  : true\n")
    assert config_errors(text) == [("run_tasks", "mapping keys must be strings, got !!seq")]


def test_all_errors_are_reported_together_type_errors_in_document_order_then_rule_errors() -> None:
    config = valid_config()
    config["logging"] = {"log_levl": "debug", "include_src": "yes"}
    config["db_configs"]["study_db"]["timeout"] = 0
    config["instance_ids"] = ["fine", "not fine"]
    config[UMC]["delete_unverified_users_after"] = 168
    config["study_configs"]["global_secret"] = ""
    errors = config_errors(config)
    assert errors == [
        (
            f"{UMC}.delete_unverified_users_after",
            f"a bare number is not accepted as a duration (Go would read 168 as nanoseconds); {HINT}",
        ),
        (
            "logging.log_levl",
            "unknown key; allowed keys: log_level, include_src, log_to_file, filename, max_size, max_age, "
            "max_backups, compress_old_logs, include_build_info",
        ),
        ("logging.include_src", f"expected a boolean (true or false), got !!str{QUOTED}"),
        (
            "db_configs.study_db.timeout",
            "must be greater than 0 (seconds; the Go job uses it as the deadline of every database "
            "operation, so 0 makes every operation fail)",
        ),
        ("instance_ids[1]", f'"not fine" {BAD_ID}'),
        (
            "study_configs.global_secret",
            "must not be empty because run_tasks.clean_up_unverified_users, run_tasks.handle_inactive_users, "
            "run_tasks.generate_profile_id_lookup, run_tasks.migrate_account_info are enabled: participant "
            "IDs are derived from it (deleting users runs the study engine); set it here or with "
            "STUDY_GLOBAL_SECRET",
        ),
    ]


def test_config_error_str_lists_every_error_on_its_own_line() -> None:
    config = valid_config()
    config["extras"] = 1
    config["run_tasks"]["migrate_account_info"] = "no"
    with pytest.raises(ConfigError) as caught:
        parse_config_text(to_yaml(config), {})
    assert str(caught.value).splitlines() == [f"{path}: {message}" for path, message in caught.value.errors]
    assert len(caught.value.errors) == 2
    assert isinstance(caught.value, ValueError)


def merge_key_bomb(levels: int) -> str:
    """Each level merges the previous one four times: 4**levels mappings once flattened, a few hundred bytes."""
    lines = ["bomb-0: &b0 {log_level: info}"]
    lines += [
        f"bomb-{i}: &b{i} {{<<: [*b{i - 1}, *b{i - 1}, *b{i - 1}, *b{i - 1}]}}" for i in range(1, levels)
    ]
    return "\n".join(lines) + f"\nlogging: {{<<: *b{levels - 1}}}\n"


def test_a_merge_key_bomb_is_refused_quickly_as_excessive_aliasing() -> None:
    """Go's yaml.v2 refuses it; flattening the merges without memoisation took minutes."""
    text = to_yaml(valid_config()) + merge_key_bomb(60)
    started = time.monotonic()
    errors = config_errors(text)
    elapsed = time.monotonic() - started

    assert elapsed < 0.5, elapsed
    assert len(errors) == 1 and errors[0][0] == "(root)"
    assert "excessive aliasing" in errors[0][1]


def test_an_alias_bomb_in_sequences_is_refused_too() -> None:
    lines = ["lol-0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"lol-{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 12)]
    text = to_yaml(valid_config()) + "\n".join(lines) + "\n"
    started = time.monotonic()
    errors = config_errors(text)

    assert time.monotonic() - started < 0.5
    assert [path for path, _ in errors] == ["(root)"] and "excessive aliasing" in errors[0][1]


def test_an_anchor_that_contains_itself_is_refused() -> None:
    text = to_yaml(valid_config()) + "logging: &loop\n  <<: *loop\n"
    errors = config_errors(text)
    assert errors == [
        (
            "(root)",
            f"YAML error at line {_line_of(text, 'logging: &loop')}: an anchored value contains an alias to itself",
        )
    ]


def test_ordinary_aliases_and_merges_are_not_excessive() -> None:
    """A hundred aliases of a small anchor (as configs share settings) stays far below Go's limits."""
    config = valid_config()
    text = to_yaml(config) + "shared: &s {a: 1, b: 2}\nmany: [" + ", ".join(["*s"] * 100) + "]\n"
    assert [path for path, _ in config_errors(text)] == ["shared", "many"]  # unknown keys, nothing else
