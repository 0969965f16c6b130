"""Template lookup, translation choice, base64 decoding and the data map of CASE's email queueing (02 §3.2).

The messaging service sends whatever `content` we queue, so each of these steps copies Go exactly; the
rendering itself is `usermgmt_pipeline.gotemplate` (Go `html/template` compatible).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from usermgmt_pipeline.gotemplate import TemplateRenderError, render_html_template


class EmailTemplateError(ValueError):
    """The template cannot produce the email Go would produce; the message names instance, type and language."""


@dataclass(frozen=True)
class Translation:
    language_code: str
    subject: str
    template_def: str


def choose_translation(template: Mapping[str, Any], language: str) -> Translation:
    """First exact `languageCode` match; else the LAST translation in `defaultLanguage`; else empty."""
    default_language = str(template.get("defaultLanguage") or "")
    fallback = Translation("", "", "")
    for raw in template.get("translations") or []:
        if not isinstance(raw, Mapping):
            continue
        candidate = Translation(
            str(raw.get("languageCode") or ""),
            str(raw.get("subject") or ""),
            str(raw.get("templateDef") or ""),
        )
        if candidate.language_code == language:
            return candidate
        if candidate.language_code == default_language:
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


def render_email(
    template: Mapping[str, Any],
    *,
    instance_id: str,
    language: str,
    payload: Mapping[str, str],
    constants: Mapping[str, str],
) -> RenderedEmail:
    message_type = str(template.get("messageType") or "")
    label = f"{instance_id}/{message_type}/{language or '<no language>'}"
    translation = choose_translation(template, language)
    try:
        source = go_std_base64_decode(translation.template_def)
    except EmailTemplateError as exc:
        raise EmailTemplateError(f"email template {label}: {exc}") from None
    try:
        content = render_html_template(source, build_data_map(payload, constants, language), name=label)
    except TemplateRenderError as exc:
        raise EmailTemplateError(f"email template {label}: {exc}") from None
    header_overrides = template.get("headerOverrides")
    return RenderedEmail(
        translation.subject, content, header_overrides if isinstance(header_overrides, Mapping) else None
    )
