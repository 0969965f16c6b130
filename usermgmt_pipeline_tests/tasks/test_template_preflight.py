"""The email pre-flight on the real server: a template that would fail for some user the task can reach
fails the whole task before any user is touched (no user document changed, no token, no email, no
journal entry), with a message naming the template, the translation, the language and the problem."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from bson import Int64

from usermgmt_pipeline.demo.documents import email_template_document
from usermgmt_pipeline.tasks.clean_up_unverified_users import clean_up_unverified_users
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.handle_inactive_users import delete_marked_users, notify_inactive_users
from usermgmt_pipeline.tasks.results import TaskFailedError, TaskResult
from usermgmt_pipeline.tasks.send_reminder_to_confirm_accounts import send_reminder_to_confirm_accounts
from usermgmt_pipeline_tests.emails.test_template_check import corpus_templates
from usermgmt_pipeline_tests.tasks.helpers import (
    DELETE_UNVERIFIED_AFTER,
    INACTIVE_AFTER,
    REMIND_AFTER,
    CaseEnv,
)

GOOD_HEADERS = {
    "from": "noreply@example.org",
    "sender": "",
    "replyTo": ["help@example.org"],
    "noReplyTo": False,
}


@dataclass(frozen=True)
class Task:
    name: str
    message_type: str
    run: Callable[[TaskContext], TaskResult]
    add_due_user: Callable[[CaseEnv, str], dict[str, Any]]


TASKS = [
    Task(
        "clean_up_unverified_users",
        "account-deleted",
        clean_up_unverified_users,
        lambda env, lang: env.add_user(created_at=env.t0 - DELETE_UNVERIFIED_AFTER - 1, language=lang),
    ),
    Task(
        "send_reminder_to_confirm_accounts",
        "registration",
        send_reminder_to_confirm_accounts,
        lambda env, lang: env.add_user(created_at=env.t0 - REMIND_AFTER - 1, language=lang),
    ),
    Task(
        "notify_inactive_users",
        "account-inactivity",
        notify_inactive_users,
        lambda env, lang: env.add_user(
            confirmed_at=1,
            last_login=env.t0 - INACTIVE_AFTER - 1,
            last_token_refresh=env.t0 - INACTIVE_AFTER - 1,
            language=lang,
        ),
    ),
    Task(
        "delete_marked_users",
        "account-deleted-after-inactivity",
        delete_marked_users,
        lambda env, lang: env.add_user(confirmed_at=1, marked_for_deletion=env.t0 - 1, language=lang),
    ),
]
TASK_IDS = [t.name for t in TASKS]


def put_template(env: CaseEnv, task: Task, document: dict[str, Any]) -> None:
    """Good templates for every type, then `document` as the task's own template."""
    env.add_templates()
    env.messaging_db["email-templates"].delete_one({"messageType": task.message_type})
    env.messaging_db["email-templates"].insert_one({**document, "messageType": task.message_type})


def b64(source: str) -> str:
    return base64.b64encode(source.encode("utf-8")).decode("ascii")


def run_expecting_preflight_failure(env: CaseEnv, task: Task) -> str:
    """Run the task; it must fail up front and leave everything as it was. Returns the error message."""
    users_before = {d["_id"]: d for d in env.users.find()}
    assert users_before, "the scenario needs a user the task would act on"

    with pytest.raises(TaskFailedError) as caught:
        task.run(env.context())

    assert caught.value.result.done == 0 and caught.value.result.failed == 0
    assert {d["_id"]: d for d in env.users.find()} == users_before
    assert env.temp_tokens.count_documents({}) == 0
    assert env.outgoing.count_documents({}) == 0
    assert env.journal.count_documents({}) == 0
    message = str(caught.value)
    assert f"'{task.message_type}'" in message or f"/{task.message_type}" in message
    assert "no user was touched" in message
    return message


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_a_construct_refused_inside_a_language_branch_fails_up_front(env: CaseEnv, task: Task) -> None:
    """The default translation is what a French user gets when there is no French one: it is rendered
    under "fr" too, so the branch that only French users take is executed before anyone is touched."""
    body = '<p>Hello {{index . "app_name"}}{{if eq .language "fr"}} {{index .language 0}}{{end}}</p>'
    put_template(
        env,
        task,
        email_template_document(task.message_type, {"en": ("S", body), "de": ("S", "<p>Hallo</p>")}),
    )
    task.add_due_user(env, "fr")
    task.add_due_user(env, "en")

    message = run_expecting_preflight_failure(env, task)

    assert "translations[0] (languageCode 'en') (the defaultLanguage fallback)" in message
    assert "language 'fr'" in message
    assert "indexing a string" in message


def test_a_branch_for_a_language_no_user_has_yet_is_checked_as_well(env: CaseEnv) -> None:
    """A user can switch to Italian during the run: the literal the branch compares with is rendered."""
    task = TASKS[1]
    body = '<p><a href="https://x.org/c?t={{.token}}">go</a>{{if eq .language "it"}}{{slice .token 0 99}}{{end}}</p>'
    put_template(env, task, email_template_document(task.message_type, {"en": ("S", body)}))
    task.add_due_user(env, "en")

    message = run_expecting_preflight_failure(env, task)

    assert "language 'it'" in message and "index out of range" in message


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_a_default_language_without_a_translation_fails_up_front(env: CaseEnv, task: Task) -> None:
    document = email_template_document(
        task.message_type, {"en": ("S", "<p>hi</p>"), "de": ("S", "<p>hallo</p>")}, default_language="fr"
    )
    put_template(env, task, document)
    task.add_due_user(env, "it")

    message = run_expecting_preflight_failure(env, task)

    assert "defaultLanguage 'fr' names no translation" in message
    assert "'en', 'de'" in message


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_translations_stored_as_a_document_fail_up_front(env: CaseEnv, task: Task) -> None:
    document = email_template_document(task.message_type, {"en": ("S", "<p>hi</p>")})
    document["translations"] = {"en": document["translations"][0]}
    put_template(env, task, document)
    task.add_due_user(env, "en")

    message = run_expecting_preflight_failure(env, task)

    assert "translations is dict" in message and "array" in message


def test_a_translation_that_is_not_a_document_fails_up_front(env: CaseEnv) -> None:
    task = TASKS[0]
    document = email_template_document(task.message_type, {"en": ("S", "<p>hi</p>")})
    document["translations"].append("de: <p>hallo</p>")
    put_template(env, task, document)
    task.add_due_user(env, "en")

    message = run_expecting_preflight_failure(env, task)

    assert "translations[1] is str" in message


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("from", 42, "headerOverrides.from is int 42"),
        ("from", ["a@b.c"], "headerOverrides.from is list"),
        ("sender", True, "headerOverrides.sender is bool"),
        ("noReplyTo", "false", "headerOverrides.noReplyTo is str 'false'"),
        ("replyTo", "help@example.org", "headerOverrides.replyTo is str"),
        ("replyTo", ["ok@example.org", 7], "headerOverrides.replyTo[1] is int 7"),
    ],
)
@pytest.mark.parametrize("task", [TASKS[0], TASKS[1]], ids=TASK_IDS[:2])
def test_header_overrides_go_cannot_decode_fail_up_front(
    env: CaseEnv, task: Task, field: str, value: Any, named: str
) -> None:
    """Go's decoder refuses these (Go queues no email); we used to coerce them (`"false"` became true)."""
    document = email_template_document(
        task.message_type, {"en": ("S", "<p>hi</p>")}, header_overrides={**GOOD_HEADERS, field: value}
    )
    put_template(env, task, document)
    task.add_due_user(env, "en")

    message = run_expecting_preflight_failure(env, task)

    assert named in message


def test_header_overrides_as_a_scalar_fail_up_front(env: CaseEnv) -> None:
    task = TASKS[3]
    document = email_template_document(task.message_type, {"en": ("S", "<p>hi</p>")})
    document["headerOverrides"] = "noreply@example.org"
    put_template(env, task, document)
    task.add_due_user(env, "en")

    assert "headerOverrides is str" in run_expecting_preflight_failure(env, task)


def test_header_overrides_decode_numbers_and_null_as_go_does(env: CaseEnv) -> None:
    """A numeric `noReplyTo` is a bool to Go (non-zero is true) and null strings are ""; the email is queued."""
    task = TASKS[0]
    headers = {"from": None, "sender": "Study <s@x.org>", "replyTo": None, "noReplyTo": Int64(1), "x": 1}
    document = email_template_document(
        task.message_type, {"en": ("S", "<p>hi</p>")}, header_overrides=headers
    )
    put_template(env, task, document)
    task.add_due_user(env, "en")

    result = task.run(env.context())

    assert result.done == 1
    queued = env.outgoing.find_one({})
    assert queued["headerOverrides"] == {
        "from": "",
        "sender": "Study <s@x.org>",
        "replyTo": None,
        "noReplyTo": True,
    }


def test_a_define_bomb_fails_the_preflight_quickly_with_a_clear_error(env: CaseEnv) -> None:
    """Forty nested `define`s that each call the next twice would render 2^40 copies: the pre-flight's
    render limit stops it within seconds (the instance lease is not held for ever)."""
    task = TASKS[0]
    levels = 40
    defines = "".join(
        f'{{{{define "t{i}"}}}}{{{{template "t{i + 1}" .}}}}{{{{template "t{i + 1}" .}}}}{{{{end}}}}'
        for i in range(levels)
    )
    body = f'{defines}{{{{define "t{levels}"}}}}x{{{{end}}}}<p>{{{{template "t0" .}}}}</p>'
    put_template(env, task, email_template_document(task.message_type, {"en": ("S", body)}))
    task.add_due_user(env, "en")
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["message"] = run_expecting_preflight_failure(env, task)
        except BaseException as exc:  # reported below, from the test's own thread
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    elapsed = time.monotonic() - started

    assert not worker.is_alive(), "the pre-flight is still rendering after 60 s"
    if "error" in outcome:
        raise outcome["error"]
    assert elapsed < 30
    assert "render limit exceeded" in outcome["message"]
    assert "translations[0] (languageCode 'en')" in outcome["message"]


def test_a_good_template_still_reaches_every_user(env: CaseEnv) -> None:
    """The check is no stricter than needed: languages with and without a translation of their own."""
    task = TASKS[1]
    body = '<p>{{if eq .language "fr"}}Bonjour{{else}}Hello{{end}} <a href="https://x.org/c?t={{.token}}">go</a></p>'
    put_template(
        env,
        task,
        email_template_document(task.message_type, {"en": ("S", body), "de": ("S", "<p>{{.token}}</p>")}),
    )
    language_of = {str(task.add_due_user(env, lang)["_id"]): lang for lang in ("fr", "de", "", "en")}

    result = task.run(env.context())

    assert result.done == 4
    starts = {language_of[d["userId"]]: d["content"][:9] for d in env.outgoing.find()}
    assert starts == {"fr": "<p>Bonjou", "de": "<p>" + starts["de"][3:], "": "<p>Hello ", "en": "<p>Hello "}
    assert starts["de"][3:].isalnum()  # the German translation: the token itself
    assert env.temp_tokens.count_documents({}) == 4


@pytest.mark.corpus
def test_the_real_corpus_templates_pass_the_preflight_and_reach_every_user(env: CaseEnv) -> None:
    """The Grippenet templates (de, en, fr, it), stored as CASE stores them: the pre-flight passes and each
    user, including one whose language has no translation, gets the email."""
    corpus = corpus_templates()
    env.add_templates(["account-inactivity", "account-deleted-after-inactivity"])
    for message_type in ("account-deleted", "registration"):
        env.messaging_db["email-templates"].insert_one(
            email_template_document(
                message_type,
                {lang: (f"{message_type} {lang}", src) for lang, src in corpus[message_type].items()},
            )
        )
    for lang in ("de", "fr", "it", "rm", ""):
        TASKS[0].add_due_user(env, lang)
        TASKS[1].add_due_user(env, lang)

    deleted = clean_up_unverified_users(env.context())
    reminded = send_reminder_to_confirm_accounts(env.context())

    assert (deleted.done, deleted.failed, reminded.done, reminded.failed) == (5, 0, 5, 0)
    subjects = sorted(d["subject"] for d in env.outgoing.find())
    assert subjects == sorted(
        f"{mt} {lang}"
        for mt in ("account-deleted", "registration")
        for lang in ("de", "fr", "it", "en", "en")
    )
