"""Email template handling of CASE's QueueEmailByTemplate (docs/tasks.md §3.2): translation choice, strict base64, the
data map's precedence, rendering through the Go html/template port, and errors that name the template."""

from __future__ import annotations

import base64

import pytest

from usermgmt_pipeline.demo.documents import email_template_document
from usermgmt_pipeline.emails.templates import (
    EmailTemplateError,
    build_data_map,
    choose_translation,
    go_std_base64_decode,
    render_email,
)


def template(*translations: tuple[str, str, str], default: str = "en") -> dict:
    return {
        "messageType": "registration",
        "defaultLanguage": default,
        "headerOverrides": None,
        "translations": [
            {
                "languageCode": code,
                "subject": subject,
                "templateDef": base64.b64encode(body.encode()).decode(),
            }
            for code, subject, body in translations
        ],
    }


def test_exact_language_match_wins_first() -> None:
    tpl = template(("en", "EN", "e"), ("de", "DE1", "d"), ("de", "DE2", "d"))
    assert choose_translation(tpl, "de").subject == "DE1"


def test_fallback_is_the_last_translation_in_the_default_language() -> None:
    tpl = template(("en", "EN1", "e"), ("de", "DE", "d"), ("en", "EN2", "e"))
    assert choose_translation(tpl, "fr").subject == "EN2"


def test_language_match_is_case_sensitive_and_empty_matches_empty() -> None:
    tpl = template(("en", "EN", "e"), ("", "EMPTY", "x"), ("DE", "UPPER", "d"))
    assert choose_translation(tpl, "de").subject == "EN"
    assert choose_translation(tpl, "").subject == "EMPTY"


def test_no_match_and_no_default_gives_an_empty_translation_that_fails_to_render() -> None:
    tpl = template(("de", "DE", "d"), default="en")
    assert choose_translation(tpl, "fr").subject == ""
    with pytest.raises(EmailTemplateError, match="inst/registration/fr"):
        render_email(tpl, instance_id="inst", language="fr", payload={}, constants={})


def test_base64_is_go_strict_but_ignores_line_breaks() -> None:
    encoded = base64.b64encode(b"<p>hi!</p>").decode()  # ends in "=="
    assert go_std_base64_decode(encoded[:8] + "\r\n" + encoded[8:]) == "<p>hi!</p>"
    for bad in (encoded.rstrip("="), encoded + " ", encoded.replace("P", "-", 1), "a" + encoded):
        with pytest.raises(EmailTemplateError, match="base64"):
            go_std_base64_decode(bad)


def test_data_map_precedence_payload_then_constants_then_language() -> None:
    data = build_data_map({"token": "t", "language": "x"}, {"token": "override", "app": "A"}, "de")
    assert data == {"token": "override", "app": "A", "language": "de"}


def test_render_uses_go_html_escaping_and_the_verbatim_subject() -> None:
    tpl = email_template_document(
        "registration",
        {
            "en": (
                "Hi {{.app}} & co",
                '<p>{{.app}}</p><a href="https://x.org/c?token={{.token}}&l={{.language}}">x</a>{{.nope}}<!-- c -->',
            )
        },
        header_overrides={"from": "a@b.c", "sender": "", "replyTo": None, "noReplyTo": True},
    )

    email = render_email(
        tpl, instance_id="inst", language="en", payload={"token": "abc2"}, constants={"app": "R&D +"}
    )

    assert email.subject == "Hi {{.app}} & co"
    assert email.content == '<p>R&amp;D &#43;</p><a href="https://x.org/c?token=abc2&l=en">x</a>'
    assert email.header_overrides == {"from": "a@b.c", "sender": "", "replyTo": None, "noReplyTo": True}


def test_unsupported_or_invalid_template_fails_with_the_template_named() -> None:
    tpl = template(("en", "S", "<a href=https://x.org/?t={{.token}}>x</a>"))
    with pytest.raises(EmailTemplateError, match="inst/registration/en"):
        render_email(tpl, instance_id="inst", language="en", payload={"token": "t"}, constants={})


def test_whitespace_only_body_is_an_error() -> None:
    with pytest.raises(EmailTemplateError, match="inst/registration/en"):
        render_email(
            template(("en", "S", "  \n ")), instance_id="inst", language="en", payload={}, constants={}
        )
