"""Which (translation, language) pairs the pre-flight renders, and the real corpus passing it."""

from __future__ import annotations

import base64
import re
from collections import defaultdict

import pytest

from usermgmt_pipeline.case.temp_tokens import new_token
from usermgmt_pipeline.emails.template_check import UNLISTED_LANGUAGE, check_template
from usermgmt_pipeline.emails.templates import EmailTemplateError
from usermgmt_pipeline_tests.gotemplate.test_real_templates import TEMPLATES


def template(*translations: tuple[str, str], default: str = "en") -> dict:
    return {
        "messageType": "registration",
        "defaultLanguage": default,
        "headerOverrides": None,
        "translations": [
            {"languageCode": code, "subject": "S", "templateDef": base64.b64encode(body.encode()).decode()}
            for code, body in translations
        ],
    }


def check(tpl: dict, languages: set[str] | None = None, calls: list[int] | None = None):
    def instance_languages() -> set[str]:
        if calls is not None:
            calls.append(1)
        return languages or set()

    return check_template(
        tpl,
        instance_id="inst",
        payload={"token": new_token()},
        constants={"app_name": "App"},
        instance_languages=instance_languages,
    )


def test_a_fallback_that_cannot_see_the_language_is_rendered_once_and_users_are_not_queried() -> None:
    calls: list[int] = []
    result = check(
        template(("en", '<p>{{index . "token"}}</p>'), ("de", "<p>{{.language}}</p>")), calls=calls
    )

    assert result.renders == ((0, "en"), (1, "de"), (0, ""))
    assert result.fallback_reads_language is False
    assert calls == []


def test_a_fallback_that_reads_the_language_is_rendered_under_every_language_that_selects_it() -> None:
    tpl = template(
        ("en", '{{if eq .language "fr"}}Bonjour{{else}}Hi{{end}} {{.token}}'), ("de", "<p>Hallo</p>")
    )

    result = check(tpl, languages={"de", "pt", "en"})

    rendered_for_fallback = {lang for index, lang in result.renders if index == 0}
    # "en" as its own code; "", the literal, the instance's other language, the data map's values (the
    # constant and the token) and one unlisted language as fallbacks; never "de", which has its own
    expected = {"en", "", "fr", "pt", "App", UNLISTED_LANGUAGE}
    assert expected <= rendered_for_fallback
    (token,) = rendered_for_fallback - expected
    assert re.fullmatch("[a-z2-7]{39}", token)
    assert (1, "de") in result.renders and (1, "pt") not in result.renders


def test_the_first_translation_of_a_code_is_its_own_and_the_last_default_one_is_the_fallback() -> None:
    tpl = template(("en", "<p>first en</p>"), ("de", "<p>de</p>"), ("en", "{{index .token 0}}"))

    with pytest.raises(EmailTemplateError) as caught:
        check(tpl)

    message = str(caught.value)
    assert "translations[2] (languageCode 'en') (the defaultLanguage fallback)" in message
    assert "fails for users of language ''" in message and "indexing a string" in message


def test_an_unreachable_duplicate_translation_is_not_held_against_the_template() -> None:
    tpl = template(("en", "<p>en</p>"), ("de", "<p>de</p>"), ("de", "{{index .token 0}}"))

    assert check(tpl).renders == ((0, "en"), (1, "de"), (0, ""))


def test_a_sentinel_language_never_collides_with_a_literal_or_a_code() -> None:
    """Every language the check tries is fine except one equal to none of them: that one is tried too."""
    known = f'eq .language "{UNLISTED_LANGUAGE}" "en" "" "App"'
    tpl = template(
        (
            "en",
            f"{{{{if {known}}}}}x{{{{else if eq (len .language) 39}}}}token{{{{else}}}}{{{{index .token 0}}}}{{{{end}}}}",
        )
    )

    with pytest.raises(EmailTemplateError, match=f"language '{UNLISTED_LANGUAGE}-x'"):
        check(tpl)


def corpus_templates() -> dict[str, dict[str, str]]:
    """message type -> language -> source, from the real templates' file names."""
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    for path in TEMPLATES:
        stem = path.stem.split("__", 1)[1]
        if m := re.fullmatch(r"email_templates_(\w\w)_(.+)", stem):
            lang, message_type = m.groups()
        elif m := re.fullmatch(r"(.+)_(\w\w)", stem):
            message_type, lang = m.groups()
        else:
            message_type, lang = stem, "en"
        grouped[message_type][lang] = path.read_text(encoding="utf-8")
    return grouped


@pytest.mark.corpus
def test_every_real_template_passes_the_preflight() -> None:
    grouped = corpus_templates()
    assert sum(len(v) for v in grouped.values()) == 41
    for message_type, by_language in grouped.items():
        tpl = template(*by_language.items(), default="en" if "en" in by_language else next(iter(by_language)))
        tpl["messageType"] = message_type

        result = check(tpl, languages={"de", "fr", "it", "en", "rm", ""})

        assert len(result.renders) == len(by_language) + 1, message_type
        assert result.fallback_reads_language is False
