"""Public entry point: render a CASE email template exactly like Go's ``html/template``."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from .errors import GoTemplateError, TemplateRenderError
from .escape import escape_template_set
from .execute import DEFAULT_LIMITS, Executor, RenderLimits
from .nodes import ListNode
from .parser import parse_templates

_GO_TRIM_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _has_surrogates(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@functools.lru_cache(maxsize=256)
def _compile(name: str, source: str) -> dict[str, ListNode]:
    """Parse and escape once per (name, source); the result is only read afterwards."""
    trees = parse_templates(name, source)
    escape_template_set(trees, name)
    return trees


def render_html_template(
    source: str, data: Mapping[str, str], *, name: str, limits: RenderLimits = DEFAULT_LIMITS
) -> str:
    """Render ``source`` with ``data`` as dot, byte-identical to CASE's Go code
    (``template.New(name).Parse(source)`` then ``Execute`` with a ``map[string]string``).

    Raises :class:`TemplateRenderError` for every error Go reports and for every construct this
    port cannot reproduce faithfully; it never returns output that would differ from Go's. A render
    that exceeds ``limits`` (output size or time) fails with the construct ``render limit exceeded``.
    """
    if source.strip(_GO_TRIM_SPACE) == "":
        raise TemplateRenderError(name, "empty template", f"empty template {name}")
    if _has_surrogates(source) or _has_surrogates(name):
        raise TemplateRenderError(name, "invalid text", "template is not valid UTF-8")
    values: dict[str, str] = {}
    for k, v in data.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TemplateRenderError(name, "invalid data", "data must map strings to strings")
        if _has_surrogates(k) or _has_surrogates(v):
            raise TemplateRenderError(name, "invalid data", "data is not valid UTF-8")
        values[k] = v
    try:
        trees = _compile(name, source)
        return Executor(trees, limits).execute(name, values)
    except GoTemplateError as e:
        raise TemplateRenderError(name, e.construct, e.detail) from e
    except RecursionError as e:
        raise TemplateRenderError(name, "unsupported construct", "nesting too deep for this port") from e
