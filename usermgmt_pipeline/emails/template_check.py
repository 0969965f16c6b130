"""Proving, before anyone is touched, that a template renders for every user a run can reach.

A task that deletes a user or issues a token and only then finds that the email cannot be rendered has
done something it cannot take back without the notice. So the pre-flight renders every translation that
some user could be given, under every language that selects it, with the task's data map, and with
stricter limits than the per-user render (`PREFLIGHT_LIMITS`), so a template that passes here cannot
trip the per-user limits.

Which (translation, language) pairs are reachable follows Go's choice (docs/tasks.md §3.2): the first translation of
each `languageCode` is chosen exactly by that language; every other language, including `""` and any
language a user may pick tomorrow, falls back to the last translation whose code is `defaultLanguage`.
The first set is finite and rendered as is. The second is open, so:

* if the fallback translation cannot observe `language` at all (`gotemplate.reads_data_key`, a static
  check of every template of the set, every branch), its render does not depend on the language, and one
  render proves it for all languages;
* otherwise it is rendered under each language present in the instance (the distinct
  `preferredLanguage` values of its users and the languages journaled for deletions in progress), `""`,
  every string literal of the template and every value of the data map (what `eq .language "fr"` or
  `eq .language .x` can compare it to), and one language equal to none of them. For a template that only
  compares, tests or prints the language this covers every language there is. For one that slices it or
  compares lengths or orderings, it covers every language present at pre-flight time, which is every user
  the run can reach except one who changes language during the run; we accept that narrow gap rather
  than refuse templates Go renders.

A `defaultLanguage` without a translation of its own fails: any user without an exact translation (and a
user can choose a new language at any time) would get no email.

The other per-user value, the temp token of reminders and notices, is a freshly generated one of the real
shape (39 characters of a-z2-7); a template that branches on the token's individual characters is
checked for that stand-in only. The users are queried (one `$group` scan) only for a fallback that reads
the language; none of the real CASE templates in the corpus does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from usermgmt_pipeline.emails.templates import (
    EmailTemplate,
    EmailTemplateError,
    decode_template,
    go_std_base64_decode,
    render_translation,
    template_name,
)
from usermgmt_pipeline.gotemplate import DEFAULT_LIMITS, RenderLimits
from usermgmt_pipeline.gotemplate.analysis import reads_data_key, string_literals

PREFLIGHT_LIMITS = RenderLimits(
    max_output_bytes=DEFAULT_LIMITS.max_output_bytes // 2,
    max_seconds=min(2.0, DEFAULT_LIMITS.max_seconds / 4),
)
"""Half the size and a quarter of the time of a per-user render: a margin for the token's and language's
lengths and for a machine that is busier later in the run."""

UNLISTED_LANGUAGE = "zz-unlisted"
"""Stands for "a language equal to none of the template's literals or the instance's languages"."""


@dataclass(frozen=True)
class TemplateCheck:
    renders: tuple[tuple[int, str], ...]
    """Every (translation index, language) pair rendered successfully."""
    fallback_reads_language: bool


def check_template(
    template: EmailTemplate | Mapping[str, Any],
    *,
    instance_id: str,
    payload: Mapping[str, str],
    constants: Mapping[str, str],
    instance_languages: Callable[[], Iterable[str]],
    limits: RenderLimits = PREFLIGHT_LIMITS,
) -> TemplateCheck:
    """Render every reachable (translation, language) pair; raises `EmailTemplateError` on the first failure.

    `instance_languages` is called only when the fallback translation reads the language (it queries the
    users collection). The error names the template, the translation, the language and the problem.
    """
    decoded = decode_template(template, instance_id=instance_id)
    where = f"email template {instance_id}/{decoded.message_type}"
    first_of_code: dict[str, int] = {}
    fallback: int | None = None
    for index, translation in enumerate(decoded.translations):
        first_of_code.setdefault(translation.language_code, index)
        if translation.language_code == decoded.default_language:
            fallback = index
    if fallback is None:
        codes = ", ".join(repr(c) for c in first_of_code) or "none"
        raise EmailTemplateError(
            f"{where}: defaultLanguage {decoded.default_language!r} names no translation (translations: "
            f"{codes}); a user whose language has no translation of its own would get no email"
        )

    renders: list[tuple[int, str]] = []

    def render(index: int, language: str) -> None:
        translation = decoded.translations[index]
        role = ""
        if index == fallback and language != translation.language_code:
            role = " (the defaultLanguage fallback)"
        try:
            render_translation(
                translation,
                name=template_name(instance_id, decoded.message_type, language),
                language=language,
                payload=payload,
                constants=constants,
                limits=limits,
            )
        except EmailTemplateError as exc:
            raise EmailTemplateError(
                f"{where}: translations[{index}] (languageCode {translation.language_code!r}){role} "
                f"fails for users of language {language!r}: {exc}"
            ) from None
        renders.append((index, language))

    for code, index in first_of_code.items():
        render(index, code)
    try:
        source = go_std_base64_decode(decoded.translations[fallback].template_def)
    except EmailTemplateError:
        source = ""  # unreachable: the exact-code render above already failed on it
    reads_language = reads_data_key(source, "language")
    for language in _fallback_languages(
        source, reads_language, set(first_of_code), payload, constants, instance_languages
    ):
        render(fallback, language)
    return TemplateCheck(tuple(renders), reads_language)


def _fallback_languages(
    source: str,
    reads_language: bool,
    codes: set[str],
    payload: Mapping[str, str],
    constants: Mapping[str, str],
    instance_languages: Callable[[], Iterable[str]],
) -> list[str]:
    """Languages that select the fallback translation and can make its render differ (module docstring)."""
    candidates = {""}
    if reads_language:
        candidates |= set(instance_languages())
        candidates |= string_literals(source)
        candidates |= set(payload.values()) | set(constants.values())
    unlisted = UNLISTED_LANGUAGE
    while unlisted in candidates or unlisted in codes:
        unlisted += "-x"
    candidates.add(unlisted)
    selecting = sorted(c for c in candidates if c not in codes)
    if not reads_language:
        return selecting[:1]  # the render cannot depend on the language: one proves them all
    return selecting
