"""html/template's escaping context and the HTML/JS/CSS state machine (port of Go's ``context.go``,
``transition.go`` and the context-related parts of ``js.go``, ``css.go``, ``attr.go``).

Hand-written: this is Go's own algorithm and must agree with it byte for byte. Text is processed as
UTF-8 ``bytes`` exactly like the Go code, so indices and slicing line up with the original.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import TypedDict, Unpack


class State(IntEnum):
    TEXT = 0
    TAG = 1
    ATTR_NAME = 2
    AFTER_NAME = 3
    BEFORE_VALUE = 4
    HTML_CMT = 5
    RCDATA = 6
    ATTR = 7
    URL = 8
    SRCSET = 9
    JS = 10
    JS_DQ_STR = 11
    JS_SQ_STR = 12
    JS_TMPL_LIT = 13
    JS_REGEXP = 14
    JS_BLOCK_CMT = 15
    JS_LINE_CMT = 16
    JS_HTML_OPEN_CMT = 17
    JS_HTML_CLOSE_CMT = 18
    CSS = 19
    CSS_DQ_STR = 20
    CSS_SQ_STR = 21
    CSS_DQ_URL = 22
    CSS_SQ_URL = 23
    CSS_URL = 24
    CSS_BLOCK_CMT = 25
    CSS_LINE_CMT = 26
    ERROR = 27
    META_CONTENT = 28
    META_CONTENT_URL = 29
    DEAD = 30


class Delim(IntEnum):
    NONE = 0
    DOUBLE_QUOTE = 1
    SINGLE_QUOTE = 2
    SPACE_OR_TAG_END = 3


class UrlPart(IntEnum):
    NONE = 0
    PRE_QUERY = 1
    QUERY_OR_FRAG = 2
    UNKNOWN = 3


class JsCtx(IntEnum):
    REGEXP = 0
    DIV_OP = 1
    UNKNOWN = 2


class Element(IntEnum):
    NONE = 0
    SCRIPT = 1
    STYLE = 2
    TEXTAREA = 3
    TITLE = 4
    META = 5


class Attr(IntEnum):
    NONE = 0
    SCRIPT = 1
    SCRIPT_TYPE = 2
    STYLE = 3
    URL = 4
    SRCSET = 5
    META_CONTENT = 6


class EscapeError:
    """An html/template escaping error; compared by identity like Go's ``*Error``."""

    __slots__ = ("description",)

    def __init__(self, description: str) -> None:
        self.description = description

    def __repr__(self) -> str:
        return f"EscapeError({self.description!r})"


class _ContextChanges(TypedDict, total=False):
    """The fields ``Context.with_`` may change, so a misspelt or mistyped field fails type checking."""

    state: State
    delim: Delim
    url_part: UrlPart
    js_ctx: JsCtx
    js_brace_depth: tuple[int, ...] | None
    attr: Attr
    element: Element
    err: EscapeError | None
    n: object


@dataclass(frozen=True, slots=True, eq=False)
class Context:
    state: State = State.TEXT
    delim: Delim = Delim.NONE
    url_part: UrlPart = UrlPart.NONE
    js_ctx: JsCtx = JsCtx.REGEXP
    js_brace_depth: tuple[int, ...] | None = None
    attr: Attr = Attr.NONE
    element: Element = Element.NONE
    err: EscapeError | None = None
    n: object = None  # the break/continue node, for range joins

    def eq(self, d: Context) -> bool:
        return (
            self.state == d.state
            and self.delim == d.delim
            and self.url_part == d.url_part
            and self.js_ctx == d.js_ctx
            and tuple(self.js_brace_depth or ()) == tuple(d.js_brace_depth or ())
            and self.attr == d.attr
            and self.element == d.element
            and self.err is d.err
        )

    def mangle(self, name: str) -> str:
        if self.state == State.TEXT:
            return name
        s = f"{name}$htmltemplate_{self.state.name}"
        if self.delim != Delim.NONE:
            s += "_" + self.delim.name
        if self.url_part != UrlPart.NONE:
            s += "_" + self.url_part.name
        if self.js_ctx != JsCtx.REGEXP:
            s += "_" + self.js_ctx.name
        if self.js_brace_depth is not None:
            s += f"_jsBraceDepth({list(self.js_brace_depth)})"
        if self.attr != Attr.NONE:
            s += "_" + self.attr.name
        if self.element != Element.NONE:
            s += "_" + self.element.name
        return s

    def with_(self, **kw: Unpack[_ContextChanges]) -> Context:
        return replace(self, **kw)


def error_context(msg: str) -> Context:
    return Context(state=State.ERROR, err=EscapeError(msg))


_COMMENT_STATES = frozenset(
    {
        State.HTML_CMT,
        State.JS_BLOCK_CMT,
        State.JS_LINE_CMT,
        State.JS_HTML_OPEN_CMT,
        State.JS_HTML_CLOSE_CMT,
        State.CSS_BLOCK_CMT,
        State.CSS_LINE_CMT,
    }
)


def is_comment(s: State) -> bool:
    return s in _COMMENT_STATES


def is_in_script_literal(s: State) -> bool:
    return s in (State.JS_DQ_STR, State.JS_SQ_STR, State.JS_TMPL_LIT, State.JS_REGEXP)


# ---------------------------------------------------------------------------------------------
# attr.go
# ---------------------------------------------------------------------------------------------
PLAIN, CSS_T, HTML_T, HTMLATTR_T, JS_T, JSSTR_T, URL_T, SRCSET_T, UNSAFE_T = range(9)

_ATTR_TYPE = {
    "accept": PLAIN, "accept-charset": UNSAFE_T, "action": URL_T, "alt": PLAIN, "archive": URL_T,
    "async": UNSAFE_T, "autocomplete": PLAIN, "autofocus": PLAIN, "autoplay": PLAIN,
    "background": URL_T, "border": PLAIN, "checked": PLAIN, "cite": URL_T, "challenge": UNSAFE_T,
    "charset": UNSAFE_T, "class": PLAIN, "classid": URL_T, "codebase": URL_T, "cols": PLAIN,
    "colspan": PLAIN, "content": UNSAFE_T, "contenteditable": PLAIN, "contextmenu": PLAIN,
    "controls": PLAIN, "coords": PLAIN, "crossorigin": UNSAFE_T, "data": URL_T, "datetime": PLAIN,
    "default": PLAIN, "defer": UNSAFE_T, "dir": PLAIN, "dirname": PLAIN, "disabled": PLAIN,
    "draggable": PLAIN, "dropzone": PLAIN, "enctype": UNSAFE_T, "for": PLAIN, "form": UNSAFE_T,
    "formaction": URL_T, "formenctype": UNSAFE_T, "formmethod": UNSAFE_T,
    "formnovalidate": UNSAFE_T, "formtarget": PLAIN, "headers": PLAIN, "height": PLAIN,
    "hidden": PLAIN, "high": PLAIN, "href": URL_T, "hreflang": PLAIN, "http-equiv": UNSAFE_T,
    "icon": URL_T, "id": PLAIN, "ismap": PLAIN, "keytype": UNSAFE_T, "kind": PLAIN, "label": PLAIN,
    "lang": PLAIN, "language": UNSAFE_T, "list": PLAIN, "longdesc": URL_T, "loop": PLAIN,
    "low": PLAIN, "manifest": URL_T, "max": PLAIN, "maxlength": PLAIN, "media": PLAIN,
    "mediagroup": PLAIN, "method": UNSAFE_T, "min": PLAIN, "multiple": PLAIN, "name": PLAIN,
    "novalidate": UNSAFE_T, "open": PLAIN, "optimum": PLAIN, "pattern": UNSAFE_T,
    "placeholder": PLAIN, "poster": URL_T, "profile": URL_T, "preload": PLAIN, "pubdate": PLAIN,
    "radiogroup": PLAIN, "readonly": PLAIN, "rel": UNSAFE_T, "required": PLAIN, "reversed": PLAIN,
    "rows": PLAIN, "rowspan": PLAIN, "sandbox": UNSAFE_T, "spellcheck": PLAIN, "scope": PLAIN,
    "scoped": PLAIN, "seamless": PLAIN, "selected": PLAIN, "shape": PLAIN, "size": PLAIN,
    "sizes": PLAIN, "span": PLAIN, "src": URL_T, "srcdoc": HTML_T, "srclang": PLAIN,
    "srcset": SRCSET_T, "start": PLAIN, "step": PLAIN, "style": CSS_T, "tabindex": PLAIN,
    "target": PLAIN, "title": PLAIN, "type": UNSAFE_T, "usemap": URL_T, "value": UNSAFE_T,
    "width": PLAIN, "wrap": PLAIN, "xmlns": URL_T,
}  # fmt: skip


def attr_type(name: str) -> int:
    if name.startswith("data-"):
        name = name[5:]
    elif ":" in name:
        prefix, _, short = name.partition(":")
        if prefix == "xmlns":
            return URL_T
        name = short
    t = _ATTR_TYPE.get(name)
    if t is not None:
        return t
    if name.startswith("on"):
        return JS_T
    if "src" in name or "uri" in name or "url" in name:
        return URL_T
    return PLAIN


# ---------------------------------------------------------------------------------------------
# js.go / css.go helpers used by transitions
# ---------------------------------------------------------------------------------------------
_JS_WHITESPACE = (
    "\f\n\r\t\v\u0020\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_REGEXP_PRECEDER_KEYWORDS = frozenset(
    {"break", "case", "continue", "delete", "do", "else", "finally", "in", "instanceof", "return",
     "throw", "try", "typeof", "void"}
)  # fmt: skip


def _trim_right_runes(s: bytes, cutset: str) -> bytes:
    text = s.decode("utf-8", errors="surrogateescape")
    return text.rstrip(cutset).encode("utf-8", errors="surrogateescape")


def is_js_ident_part(c: int) -> bool:
    return c == 0x24 or 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or c == 0x5F or 0x61 <= c <= 0x7A


def next_js_ctx(s: bytes, preceding: JsCtx) -> JsCtx:
    s = _trim_right_runes(s, _JS_WHITESPACE)
    if not s:
        return preceding
    n = len(s)
    c = s[-1]
    ch = chr(c)
    if ch in "+-":
        start = n - 1
        while start > 0 and s[start - 1] == c:
            start -= 1
        if (n - start) & 1 == 1:
            return JsCtx.REGEXP
        return JsCtx.DIV_OP
    if ch == ".":
        if n != 1 and 0x30 <= s[n - 2] <= 0x39:
            return JsCtx.DIV_OP
        return JsCtx.REGEXP
    if ch in ",<>=*%&|^?!~([:;{}":
        return JsCtx.REGEXP
    j = n
    while j > 0 and is_js_ident_part(s[j - 1]):
        j -= 1
    if s[j:].decode("latin-1") in _REGEXP_PRECEDER_KEYWORDS:
        return JsCtx.REGEXP
    return JsCtx.DIV_OP


def is_hex(c: int) -> bool:
    return 0x30 <= c <= 0x39 or 0x61 <= c <= 0x66 or 0x41 <= c <= 0x46


def is_css_nmchar(r: int) -> bool:
    return (
        0x61 <= r <= 0x7A
        or 0x41 <= r <= 0x5A
        or 0x30 <= r <= 0x39
        or r == 0x2D
        or r == 0x5F
        or 0x80 <= r <= 0xD7FF
        or 0xE000 <= r <= 0xFFFD
        or 0x10000 <= r <= 0x10FFFF
    )


def _decode_last_rune(b: bytes) -> int:
    """utf8.DecodeLastRune (RuneError 0xFFFD on invalid input)."""
    if not b:
        return 0xFFFD
    for size in (1, 2, 3, 4):
        if size > len(b):
            break
        chunk = b[-size:]
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(text) == 1:
            return ord(text)
    return 0xFFFD


def ends_with_css_keyword(b: bytes, kw: str) -> bool:
    i = len(b) - len(kw)
    if i < 0:
        return False
    if i != 0:
        r = _decode_last_rune(b[:i])
        if is_css_nmchar(r):
            return False
    return b[i:].lower() == kw.encode()


def _skip_css_space(c: bytes) -> bytes:
    if not c:
        return c
    if c[0] in b"\t\n\f ":
        return c[1:]
    if c[0] == 0x0D:
        if len(c) >= 2 and c[1] == 0x0A:
            return c[2:]
        return c[1:]
    return c


def _encode_rune(r: int) -> bytes:
    if 0xD800 <= r <= 0xDFFF or r > 0x10FFFF:
        r = 0xFFFD
    return chr(r).encode("utf-8")


def decode_css(s: bytes) -> bytes:
    if b"\\" not in s:
        return s
    b = bytearray()
    while s:
        i = s.find(b"\\")
        if i == -1:
            i = len(s)
        b += s[:i]
        s = s[i:]
        if len(s) < 2:
            break
        if is_hex(s[1]):
            j = 2
            while j < len(s) and j < 7 and is_hex(s[j]):
                j += 1
            r = int(s[1:j], 16)
            if r > 0x10FFFF:
                r, j = r // 16, j - 1
            b += _encode_rune(r)
            s = _skip_css_space(s[j:])
        else:
            n = _rune_len(s, 1)
            b += s[1 : 1 + n]
            s = s[1 + n :]
    return bytes(b)


def _rune_len(s: bytes, i: int) -> int:
    """Width of the UTF-8 sequence at s[i] as utf8.DecodeRune reports it (1 on invalid)."""
    c = s[i]
    if c < 0x80:
        return 1
    for size in (2, 3, 4):
        try:
            if len(s[i : i + size].decode("utf-8")) == 1:
                return size
        except UnicodeDecodeError:
            continue
    return 1


def is_js_type(mime: str) -> bool:
    mime = mime.split(";", 1)[0].lower().strip(" \t\n\v\f\r\x85\xa0")
    return mime in {
        "", "application/ecmascript", "application/javascript", "application/json",
        "application/ld+json", "application/x-ecmascript", "application/x-javascript", "module",
        "text/ecmascript", "text/javascript", "text/javascript1.0", "text/javascript1.1",
        "text/javascript1.2", "text/javascript1.3", "text/javascript1.4", "text/javascript1.5",
        "text/jscript", "text/livescript", "text/x-ecmascript", "text/x-javascript",
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# transition.go
# ---------------------------------------------------------------------------------------------
def _index_any(s: bytes, chars: bytes, start: int = 0) -> int:
    best = -1
    for ch in chars:
        i = s.find(bytes([ch]), start)
        if i != -1 and (best == -1 or i < best):
            best = i
    return best


_ELEMENT_CONTENT = {
    Element.NONE: State.TEXT,
    Element.SCRIPT: State.JS,
    Element.STYLE: State.CSS,
    Element.TEXTAREA: State.RCDATA,
    Element.TITLE: State.RCDATA,
    Element.META: State.TEXT,
}
_ELEMENT_NAMES = {
    "script": Element.SCRIPT,
    "style": Element.STYLE,
    "textarea": Element.TEXTAREA,
    "title": Element.TITLE,
    "meta": Element.META,
}
ATTR_START_STATES = {
    Attr.NONE: State.ATTR,
    Attr.SCRIPT: State.JS,
    Attr.SCRIPT_TYPE: State.ATTR,
    Attr.STYLE: State.CSS,
    Attr.URL: State.URL,
    Attr.SRCSET: State.SRCSET,
    Attr.META_CONTENT: State.META_CONTENT,
}


def _ascii_alpha(c: int) -> bool:
    return 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _ascii_alnum(c: int) -> bool:
    return _ascii_alpha(c) or 0x30 <= c <= 0x39


def eat_tag_name(s: bytes, i: int) -> tuple[int, Element]:
    if i == len(s) or not _ascii_alpha(s[i]):
        return i, Element.NONE
    j = i + 1
    while j < len(s):
        x = s[j]
        if _ascii_alnum(x):
            j += 1
            continue
        if x in (0x3A, 0x2D) and j + 1 < len(s) and _ascii_alnum(s[j + 1]):
            j += 2
            continue
        break
    return j, _ELEMENT_NAMES.get(s[i:j].decode("ascii").lower(), Element.NONE)


def eat_white_space(s: bytes, i: int) -> int:
    for j in range(i, len(s)):
        if s[j] not in b" \t\n\f\r":
            return j
    return len(s)


def eat_attr_name(s: bytes, i: int) -> tuple[int, EscapeError | None]:
    for j in range(i, len(s)):
        c = s[j]
        if c in b" \t\n\f\r=>":
            return j, None
        if c in b"'\"<":
            return -1, EscapeError(f"{chr(c)!r} in attribute name")
    return len(s), None


def t_text(c: Context, s: bytes) -> tuple[Context, int]:
    k = 0
    while True:
        i = s.find(b"<", k)
        if i < 0 or i + 1 == len(s):
            return c, len(s)
        if i + 4 <= len(s) and s[i : i + 4] == b"<!--":
            return Context(state=State.HTML_CMT), i + 4
        i += 1
        end = False
        if s[i] == 0x2F:
            if i + 1 == len(s):
                return c, len(s)
            end, i = True, i + 1
        j, e = eat_tag_name(s, i)
        if j != i:
            if end:
                e = Element.NONE
            return Context(state=State.TAG, element=e), j
        k = j


def t_tag(c: Context, s: bytes) -> tuple[Context, int]:
    i = eat_white_space(s, 0)
    if i == len(s):
        return c, len(s)
    if s[i] == 0x3E:
        if c.element == Element.META:
            return Context(state=State.TEXT, element=Element.NONE), i + 1
        return Context(state=_ELEMENT_CONTENT[c.element], element=c.element), i + 1
    j, err = eat_attr_name(s, i)
    if err is not None:
        return Context(state=State.ERROR, err=err), len(s)
    if i == j:
        return error_context("expected space, attr name, or end of tag"), len(s)
    attr_name = s[i:j].decode("utf-8", errors="surrogateescape").lower()
    attr = Attr.NONE
    if c.element == Element.SCRIPT and attr_name == "type":
        attr = Attr.SCRIPT_TYPE
    elif c.element == Element.META and attr_name == "content":
        attr = Attr.META_CONTENT
    else:
        t = attr_type(attr_name)
        if t == URL_T:
            attr = Attr.URL
        elif t == CSS_T:
            attr = Attr.STYLE
        elif t == JS_T:
            attr = Attr.SCRIPT
        elif t == SRCSET_T:
            attr = Attr.SRCSET
    state = State.ATTR_NAME if j == len(s) else State.AFTER_NAME
    return Context(state=state, element=c.element, attr=attr), j


def t_attr_name(c: Context, s: bytes) -> tuple[Context, int]:
    i, err = eat_attr_name(s, 0)
    if err is not None:
        return Context(state=State.ERROR, err=err), len(s)
    if i != len(s):
        c = c.with_(state=State.AFTER_NAME)
    return c, i


def t_after_name(c: Context, s: bytes) -> tuple[Context, int]:
    i = eat_white_space(s, 0)
    if i == len(s):
        return c, len(s)
    if s[i] != 0x3D:
        return c.with_(state=State.TAG), i
    return c.with_(state=State.BEFORE_VALUE), i + 1


def t_before_value(c: Context, s: bytes) -> tuple[Context, int]:
    i = eat_white_space(s, 0)
    if i == len(s):
        return c, len(s)
    delim = Delim.SPACE_OR_TAG_END
    if s[i] == 0x27:
        delim, i = Delim.SINGLE_QUOTE, i + 1
    elif s[i] == 0x22:
        delim, i = Delim.DOUBLE_QUOTE, i + 1
    return c.with_(state=ATTR_START_STATES[c.attr], delim=delim), i


def t_html_cmt(c: Context, s: bytes) -> tuple[Context, int]:
    i = s.find(b"-->")
    if i != -1:
        return Context(), i + 3
    return c, len(s)


_SPECIAL_TAG_END = {
    Element.SCRIPT: b"script",
    Element.STYLE: b"style",
    Element.TEXTAREA: b"textarea",
    Element.TITLE: b"title",
    Element.META: b"",
}


def index_tag_end(s: bytes, tag: bytes) -> int:
    res = 0
    plen = 2
    while s:
        i = s.find(b"</")
        if i == -1:
            return i
        s = s[i + plen :]
        if len(tag) <= len(s) and s[: len(tag)].lower() == tag:
            s = s[len(tag) :]
            if s and s[0] in b"> \t\n\f/":
                return res + i
            res += len(tag)
        res += i + plen
    return -1


def t_special_tag_end(c: Context, s: bytes) -> tuple[Context, int]:
    if c.element != Element.NONE:
        if c.element == Element.SCRIPT and (is_in_script_literal(c.state) or is_comment(c.state)):
            return c, len(s)
        i = index_tag_end(s, _SPECIAL_TAG_END[c.element])
        if i != -1:
            return Context(), i
    return c, len(s)


def t_attr(c: Context, s: bytes) -> tuple[Context, int]:
    return c, len(s)


def t_url(c: Context, s: bytes) -> tuple[Context, int]:
    if b"#" in s or b"?" in s:
        c = c.with_(url_part=UrlPart.QUERY_OR_FRAG)
    elif len(s) != eat_white_space(s, 0) and c.url_part == UrlPart.NONE:
        c = c.with_(url_part=UrlPart.PRE_QUERY)
    return c, len(s)


def t_js(c: Context, s: bytes) -> tuple[Context, int]:
    i = _index_any(s, b"\"`'/{}<-#")
    if i == -1:
        return c.with_(js_ctx=next_js_ctx(s, c.js_ctx)), len(s)
    c = c.with_(js_ctx=next_js_ctx(s[:i], c.js_ctx))
    ch = s[i]
    if ch == 0x22:
        c = c.with_(state=State.JS_DQ_STR, js_ctx=JsCtx.REGEXP)
    elif ch == 0x27:
        c = c.with_(state=State.JS_SQ_STR, js_ctx=JsCtx.REGEXP)
    elif ch == 0x60:
        c = c.with_(state=State.JS_TMPL_LIT, js_ctx=JsCtx.REGEXP)
    elif ch == 0x2F:
        if i + 1 < len(s) and s[i + 1] == 0x2F:
            c, i = c.with_(state=State.JS_LINE_CMT), i + 1
        elif i + 1 < len(s) and s[i + 1] == 0x2A:
            c, i = c.with_(state=State.JS_BLOCK_CMT), i + 1
        elif c.js_ctx == JsCtx.REGEXP:
            c = c.with_(state=State.JS_REGEXP)
        elif c.js_ctx == JsCtx.DIV_OP:
            c = c.with_(js_ctx=JsCtx.REGEXP)
        else:
            return error_context("'/' could start a division or regexp"), len(s)
    elif ch == 0x3C:
        if i + 3 < len(s) and s[i : i + 4] == b"<!--":
            c, i = c.with_(state=State.JS_HTML_OPEN_CMT), i + 3
    elif ch == 0x2D:
        if i + 2 < len(s) and s[i : i + 3] == b"-->":
            c, i = c.with_(state=State.JS_HTML_CLOSE_CMT), i + 2
    elif ch == 0x23:
        if i + 1 < len(s) and s[i + 1] == 0x21:
            c, i = c.with_(state=State.JS_LINE_CMT), i + 1
    elif ch == 0x7B:
        if not c.js_brace_depth:
            return c.with_(js_ctx=next_js_ctx(s[i : i + 1], c.js_ctx)), i + 1
        d = c.js_brace_depth
        c = c.with_(js_brace_depth=(*d[:-1], d[-1] + 1), js_ctx=next_js_ctx(s[i : i + 1], c.js_ctx))
    elif ch == 0x7D:
        if not c.js_brace_depth:
            return c.with_(js_ctx=next_js_ctx(s[i : i + 1], c.js_ctx)), i + 1
        d = c.js_brace_depth
        d = (*d[:-1], d[-1] - 1)
        if d[-1] >= 0:
            return c.with_(js_brace_depth=d, js_ctx=next_js_ctx(s[i : i + 1], c.js_ctx)), i + 1
        c = c.with_(js_brace_depth=d[:-1], state=State.JS_TMPL_LIT)
    return c, i + 1


def t_js_tmpl(c: Context, s: bytes) -> tuple[Context, int]:
    k = 0
    while True:
        i = _index_any(s, b"`\\$", k)
        if i < 0:
            break
        ch = s[i]
        if ch == 0x5C:
            i += 1
            if i == len(s):
                return error_context("unfinished escape sequence in JS string"), len(s)
        elif ch == 0x24:
            if len(s) >= i + 2 and s[i + 1] == 0x7B:
                return c.with_(js_brace_depth=(*(c.js_brace_depth or ()), 0), state=State.JS), i + 2
        elif ch == 0x60:
            return c.with_(state=State.JS), i + 1
        k = i + 1
    return c, len(s)


def t_js_delimited(c: Context, s: bytes) -> tuple[Context, int]:
    specials = b'\\"'
    if c.state == State.JS_SQ_STR:
        specials = b"\\'"
    elif c.state == State.JS_REGEXP:
        specials = b"\\/[]"
    k, in_charset = 0, False
    while True:
        i = _index_any(s, specials, k)
        if i < 0:
            break
        ch = s[i]
        if ch == 0x5C:
            i += 1
            if i == len(s):
                return error_context("unfinished escape sequence in JS string"), len(s)
        elif ch == 0x5B:
            in_charset = True
        elif ch == 0x5D:
            in_charset = False
        elif ch == 0x2F:
            if i > 0 and i + 7 <= len(s) and s[i - 1 : i + 7].lower() == b"</script":
                i += 1
            elif not in_charset:
                return c.with_(state=State.JS, js_ctx=JsCtx.DIV_OP), i + 1
        else:
            if not in_charset:
                return c.with_(state=State.JS, js_ctx=JsCtx.DIV_OP), i + 1
        k = i + 1
    if in_charset:
        return error_context("unfinished JS regexp charset"), len(s)
    return c, len(s)


def t_block_cmt(c: Context, s: bytes) -> tuple[Context, int]:
    i = s.find(b"*/")
    if i == -1:
        return c, len(s)
    return c.with_(state=State.JS if c.state == State.JS_BLOCK_CMT else State.CSS), i + 2


_JS_LINE_TERMINATORS = ("\n", "\r", "\u2028", "\u2029")


def t_line_cmt(c: Context, s: bytes) -> tuple[Context, int]:
    if c.state == State.CSS_LINE_CMT:
        terms: tuple[bytes, ...] = (b"\n", b"\f", b"\r")
        end_state = State.CSS
    else:
        terms = tuple(t.encode() for t in _JS_LINE_TERMINATORS)
        end_state = State.JS
    idx = [s.find(t) for t in terms]
    idx = [i for i in idx if i != -1]
    if not idx:
        return c, len(s)
    return c.with_(state=end_state), min(idx)


def t_css(c: Context, s: bytes) -> tuple[Context, int]:
    k = 0
    while True:
        i = _index_any(s, b"(\"'/", k)
        if i < 0:
            return c, len(s)
        ch = s[i]
        if ch == 0x28:
            p = s[:i].rstrip(b"\t\n\f\r ")
            if ends_with_css_keyword(p, "url"):
                rest = s[i + 1 :].lstrip(b"\t\n\f\r ")
                j = len(s) - len(rest)
                if j != len(s) and s[j] == 0x22:
                    c, j = c.with_(state=State.CSS_DQ_URL), j + 1
                elif j != len(s) and s[j] == 0x27:
                    c, j = c.with_(state=State.CSS_SQ_URL), j + 1
                else:
                    c = c.with_(state=State.CSS_URL)
                return c, j
        elif ch == 0x2F:
            if i + 1 < len(s):
                if s[i + 1] == 0x2F:
                    return c.with_(state=State.CSS_LINE_CMT), i + 2
                if s[i + 1] == 0x2A:
                    return c.with_(state=State.CSS_BLOCK_CMT), i + 2
        elif ch == 0x22:
            return c.with_(state=State.CSS_DQ_STR), i + 1
        elif ch == 0x27:
            return c.with_(state=State.CSS_SQ_STR), i + 1
        k = i + 1


def t_css_str(c: Context, s: bytes) -> tuple[Context, int]:
    if c.state in (State.CSS_DQ_STR, State.CSS_DQ_URL):
        end_and_esc = b'\\"'
    elif c.state in (State.CSS_SQ_STR, State.CSS_SQ_URL):
        end_and_esc = b"\\'"
    else:
        end_and_esc = b"\\\t\n\f\r )"
    k = 0
    while True:
        i = _index_any(s, end_and_esc, k)
        if i < 0:
            c, nread = t_url(c, decode_css(s[k:]))
            return c, k + nread
        if s[i] == 0x5C:
            i += 1
            if i == len(s):
                return error_context("unfinished escape sequence in CSS string"), len(s)
        else:
            return c.with_(state=State.CSS), i + 1
        c, _ = t_url(c, decode_css(s[: i + 1]))
        k = i + 1


def t_error(c: Context, s: bytes) -> tuple[Context, int]:
    return c, len(s)


def t_meta_content(c: Context, s: bytes) -> tuple[Context, int]:
    for i in range(len(s)):
        if i + 3 <= len(s) - 1 and s[i : i + 3].lower() == b"url":
            j = eat_white_space(s, i + 3)
            if j < len(s) and s[j] == 0x3D:
                return c.with_(state=State.META_CONTENT_URL), j + 1
    return c, len(s)


def t_meta_content_url(c: Context, s: bytes) -> tuple[Context, int]:
    i = s.find(b";")
    if i != -1:
        return c.with_(state=State.META_CONTENT), i + 1
    return c, len(s)


TRANSITION = {
    State.TEXT: t_text,
    State.TAG: t_tag,
    State.ATTR_NAME: t_attr_name,
    State.AFTER_NAME: t_after_name,
    State.BEFORE_VALUE: t_before_value,
    State.HTML_CMT: t_html_cmt,
    State.RCDATA: t_special_tag_end,
    State.ATTR: t_attr,
    State.URL: t_url,
    State.META_CONTENT: t_meta_content,
    State.META_CONTENT_URL: t_meta_content_url,
    State.SRCSET: t_url,
    State.JS: t_js,
    State.JS_DQ_STR: t_js_delimited,
    State.JS_SQ_STR: t_js_delimited,
    State.JS_REGEXP: t_js_delimited,
    State.JS_TMPL_LIT: t_js_tmpl,
    State.JS_BLOCK_CMT: t_block_cmt,
    State.JS_LINE_CMT: t_line_cmt,
    State.JS_HTML_OPEN_CMT: t_line_cmt,
    State.JS_HTML_CLOSE_CMT: t_line_cmt,
    State.CSS: t_css,
    State.CSS_DQ_STR: t_css_str,
    State.CSS_SQ_STR: t_css_str,
    State.CSS_DQ_URL: t_css_str,
    State.CSS_SQ_URL: t_css_str,
    State.CSS_URL: t_css_str,
    State.CSS_BLOCK_CMT: t_block_cmt,
    State.CSS_LINE_CMT: t_line_cmt,
    State.ERROR: t_error,
}

DELIM_ENDS = {
    Delim.DOUBLE_QUOTE: b'"',
    Delim.SINGLE_QUOTE: b"'",
    Delim.SPACE_OR_TAG_END: b" \t\n\f\r>",
}

_UNQUOTED_BAD = re.compile(rb"[\"'<=`]")


_WIN1252 = "\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178"
_ENTITY_NAME = re.compile(r"[A-Za-z0-9]*;?")


def _unescape_entity(s: str) -> tuple[str, int]:
    """Go's html.unescapeEntity (non-attribute mode) at ``s[0] == "&"``: (replacement, consumed)."""
    if len(s) > 1 and s[1] == "#":
        if len(s) <= 3:
            return "&", 1
        i = 2
        hexa = s[i] in "xX"
        if hexa:
            i += 1
        x = 0
        while i < len(s):
            c = s[i]
            i += 1
            if hexa and c in "0123456789abcdefABCDEF":
                x = (16 * x + int(c, 16)) & 0xFFFFFFFF
                continue
            if not hexa and "0" <= c <= "9":
                x = (10 * x + int(c)) & 0xFFFFFFFF
                continue
            if c != ";":
                i -= 1
            break
        if i <= 3:
            return "&", 1
        if x >= 0x80000000:
            x -= 1 << 32
        if 0x80 <= x <= 0x9F:
            return _WIN1252[x - 0x80], i
        if x <= 0 or 0xD800 <= x <= 0xDFFF or x > 0x10FFFF:
            return "\ufffd", i
        return chr(x), i
    m = _ENTITY_NAME.match(s, 1)
    name = m.group() if m else ""
    if not name:
        return "&", 1
    text = _html.unescape("&" + name)
    if text == "&" + name:
        return "&", 1
    return text, 1 + len(name)


def html_unescape_bytes(s: bytes) -> bytes:
    """Go's html.UnescapeString on UTF-8 bytes (named entities from the same HTML5 table)."""
    if b"&" not in s:
        return s
    text = s.decode("utf-8", errors="surrogateescape")
    out = []
    i = 0
    while True:
        j = text.find("&", i)
        if j == -1:
            out.append(text[i:])
            break
        out.append(text[i:j])
        repl, n = _unescape_entity(text[j:])
        out.append(repl)
        i = j + n
    return "".join(out).encode("utf-8", errors="surrogateescape")


def context_after_text(c: Context, s: bytes) -> tuple[Context, int]:
    if c.delim == Delim.NONE:
        c1, i = t_special_tag_end(c, s)
        if i == 0:
            return c1, 0
        return TRANSITION[c.state](c, s[:i])
    ends = DELIM_ENDS[c.delim]
    i = _index_any(s, ends)
    if i == -1:
        i = len(s)
    if c.delim == Delim.SPACE_OR_TAG_END:
        m = _UNQUOTED_BAD.search(s, 0, i)
        if m:
            return error_context(f"{m.group().decode()!r} in unquoted attr: {s[:i]!r}"), len(s)
    if i == len(s):
        u = html_unescape_bytes(s)
        while u:
            c1, i1 = TRANSITION[c.state](c, u)
            c, u = c1, u[i1:]
        return c, len(s)
    element = c.element
    if (
        c.state == State.ATTR
        and c.element == Element.SCRIPT
        and c.attr == Attr.SCRIPT_TYPE
        and not is_js_type(s[:i].decode("utf-8", errors="surrogateescape"))
    ):
        element = Element.NONE
    if c.delim != Delim.SPACE_OR_TAG_END:
        i += 1
    return Context(state=State.TAG, element=element), i
