"""Template lookup, translation choice, base64 decoding and the data map of CASE's email queueing (docs/tasks.md §3.2).

The messaging service sends whatever `content` we queue, so each of these steps copies Go exactly; the
rendering itself is `usermgmt_pipeline.gotemplate` (Go `html/template` compatible). The document is decoded
with Go's rules for the `EmailTemplate` struct (`case.messaging.decode_email_template`): a template Go
could not decode fails here too, never with a coerced value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from usermgmt_pipeline.case.messaging import (
    EmailTemplate,
    TemplateDecodeError,
    Translation,
    decode_email_template,
)
from usermgmt_pipeline.errors import UsermgmtError
from usermgmt_pipeline.gotemplate import (
    DEFAULT_LIMITS,
    RenderLimits,
    TemplateRenderError,
    render_html_template,
)

__all__ = [
    "EmailTemplate",
    "EmailTemplateError",
    "RenderedEmail",
    "Translation",
    "build_data_map",
    "choose_translation",
    "decode_template",
    "go_std_base64_decode",
    "render_email",
    "render_translation",
    "template_name",
]


class EmailTemplateError(UsermgmtError, ValueError):
    """The template cannot produce the email Go would produce; the message names instance, type and language."""


def decode_template(template: EmailTemplate | Mapping[str, Any], *, instance_id: str) -> EmailTemplate:
    """The decoded template; a document Go cannot decode raises `EmailTemplateError` naming the field."""
    if isinstance(template, EmailTemplate):
        return template
    try:
        return decode_email_template(template)
    except TemplateDecodeError as exc:
        message_type = template.get("messageType")
        raise EmailTemplateError(
            f"email template {instance_id}/{message_type if isinstance(message_type, str) else '?'}: {exc}"
        ) from None


def choose_translation(template: EmailTemplate | Mapping[str, Any], language: str) -> Translation:
    """First exact `languageCode` match; else the LAST translation in `defaultLanguage`; else empty."""
    decoded = decode_template(template, instance_id="?")
    fallback = Translation("", "", "")
    for candidate in decoded.translations:
        if candidate.language_code == language:
            return candidate
        if candidate.language_code == decoded.default_language:
            fallback = candidate
    return fallback


def go_std_base64_decode(encoded: str) -> str:
    """Go's `base64.StdEncoding.DecodeString`: CR/LF ignored, anything else outside the alphabet or bad padding fails."""
    cleaned = encoded.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(cleaned, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError) as exc:
        raise EmailTemplateError(f"templateDef is not valid standard base64: {exc}") from None


def build_data_map(payload: Mapping[str, str], constants: Mapping[str, str], language: str) -> dict[str, str]:
    """Payload, then global constants (overwrite), then `language` (always wins), as Go builds it."""
    data = dict(payload)
    data.update(constants)
    data["language"] = language
    return data


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    content: str
    header_overrides: Mapping[str, Any] | None
    """Go's re-encoding of the decoded struct (`HeaderOverrides.document()`), or None."""


def render_translation(
    translation: Translation,
    *,
    name: str,
    language: str,
    payload: Mapping[str, str],
    constants: Mapping[str, str],
    limits: RenderLimits = DEFAULT_LIMITS,
) -> str:
    """The rendered body of one translation for a user of `language`; errors name the template `name`."""
    try:
        source = go_std_base64_decode(translation.template_def)
    except EmailTemplateError as exc:
        raise EmailTemplateError(f"email template {name}: {exc}") from None
    try:
        return render_html_template(
            source, build_data_map(payload, constants, language), name=name, limits=limits
        )
    except TemplateRenderError as exc:
        raise EmailTemplateError(f"email template {name}: {exc}") from None


def render_email(
    template: EmailTemplate | Mapping[str, Any],
    *,
    instance_id: str,
    language: str,
    payload: Mapping[str, str],
    constants: Mapping[str, str],
) -> RenderedEmail:
    decoded = decode_template(template, instance_id=instance_id)
    translation = choose_translation(decoded, language)
    content = render_translation(
        translation,
        name=template_name(instance_id, decoded.message_type, language),
        language=language,
        payload=payload,
        constants=constants,
    )
    overrides = decoded.header_overrides
    return RenderedEmail(translation.subject, content, overrides.document() if overrides else None)


def template_name(instance_id: str, message_type: str, language: str) -> str:
    """The name errors show: instance, type and the user's language (Go concatenates them, unreadably)."""
    return f"{instance_id}/{message_type}/{language or '<no language>'}"
