"""The escaping functions html/template inserts into pipelines, plus text/template's ``html``,
``js`` and ``urlquery`` builtins (ports of Go's ``html.go``, ``url.go``, ``js.go``, ``css.go`` and
``text/template/funcs.go``).

Values reaching them are never html/template typed content (no ``template.HTML`` etc. can be
produced from a string map), so only the plain-text branches are ported.
"""

from __future__ import annotations

from collections.abc import Callable

from .context import decode_css, is_css_nmchar, is_hex, is_js_ident_part
from .gofmt import Value, is_print, json_marshal, sprint

FILTER_FAILSAFE = "ZgotmplZ"


def stringify(args: list[Value]) -> str:
    """html/template ``stringify`` for plain content: a lone string as is, else fmt.Sprint of the
    non-nil arguments."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint([a for a in args if a is not None])


def eval_args_html(args: list[Value]) -> str:
    """html/template ``evalArgs`` (``_eval_args_``): nil arguments print as ``<nil>``."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(args)


def _eval_args_text(args: list[Value]) -> str:
    """text/template ``evalArgs``: nil arguments print as ``<no value>``."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(["<no value>" if a is None else a for a in args])


# ---------------------------------------------------------------------------------------------
# html.go
# ---------------------------------------------------------------------------------------------
_HTML_TABLE = {
    0: "\ufffd",
    0x22: "&#34;",
    0x26: "&amp;",
    0x27: "&#39;",
    0x2B: "&#43;",
    0x3C: "&lt;",
    0x3E: "&gt;",
}
_HTML_TRANS = str.maketrans(_HTML_TABLE)
_NOSPACE_TABLE = {
    0: "&#xfffd;", 9: "&#9;", 10: "&#10;", 11: "&#11;", 12: "&#12;", 13: "&#13;", 0x20: "&#32;",
    0x22: "&#34;", 0x26: "&amp;", 0x27: "&#39;", 0x2B: "&#43;", 0x3C: "&lt;", 0x3D: "&#61;",
    0x3E: "&gt;", 0x60: "&#96;",
}  # fmt: skip
for _c in [*range(0xFDD0, 0xFDF0), *range(0xFFF0, 0x10000)]:
    _NOSPACE_TABLE[_c] = f"&#x{_c:x};"
_NOSPACE_TRANS = str.maketrans(_NOSPACE_TABLE)


def html_escaper(args: list[Value]) -> str:
    return stringify(args).translate(_HTML_TRANS)


def html_nospace_escaper(args: list[Value]) -> str:
    s = stringify(args)
    if s == "":
        return FILTER_FAILSAFE
    return s.translate(_NOSPACE_TRANS)


def html_name_filter(args: list[Value]) -> str:
    from .context import PLAIN, attr_type

    s = stringify(args)
    if not s:
        return FILTER_FAILSAFE
    s = _go_to_lower(s)
    if attr_type(s) != PLAIN:
        return FILTER_FAILSAFE
    for r in s:
        if not ("0" <= r <= "9" or "a" <= r <= "z"):
            return FILTER_FAILSAFE
    return s


def _go_to_lower(s: str) -> str:
    # strings.ToLower maps rune by rune (unicode.ToLower); the result only matters if it is all
    # [a-z0-9], which per-rune str.lower() decides identically.
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in s)


def comment_escaper(args: list[Value]) -> str:
    return ""


# ---------------------------------------------------------------------------------------------
# url.go
# ---------------------------------------------------------------------------------------------
def _equal_fold(a: str, b: str) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        fx, fy = x.casefold(), y.casefold()
        if len(fx) == 1 and fx == fy:
            continue
        if x.lower() == y.lower() or x.upper() == y.upper():
            continue
        return False
    return True


def is_safe_url(s: str) -> bool:
    protocol, sep, _ = s.partition(":")
    return not (
        sep
        and "/" not in protocol
        and not (
            _equal_fold(protocol, "http") or _equal_fold(protocol, "https") or _equal_fold(protocol, "mailto")
        )
    )


def url_filter(args: list[Value]) -> str:
    s = stringify(args)
    if not is_safe_url(s):
        return "#" + FILTER_FAILSAFE
    return s


_URL_ALWAYS_OK = frozenset(b"-._~abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_URL_NORM_OK = frozenset(b"!#$&*+,/:;=?@[]")


def process_url(s: str, norm: bool) -> str:
    b = s.encode("utf-8")
    out = bytearray()
    n = len(b)
    for i, c in enumerate(b):
        if c in _URL_ALWAYS_OK:
            out.append(c)
            continue
        if norm and c in _URL_NORM_OK:
            out.append(c)
            continue
        if c == 0x25 and norm and i + 2 < n and is_hex(b[i + 1]) and is_hex(b[i + 2]):
            out.append(c)
            continue
        out += b"%%%02x" % c
    return out.decode("utf-8")


def url_escaper(args: list[Value]) -> str:
    return process_url(stringify(args), False)


def url_normalizer(args: list[Value]) -> str:
    return process_url(stringify(args), True)


_HTML_SPACE = frozenset(b"\t\n\f\r ")


def _filter_srcset_element(s: bytes, left: int, right: int, out: bytearray) -> None:
    start = left
    while start < right and s[start] in _HTML_SPACE:
        start += 1
    end = right
    for i in range(start, right):
        if s[i] in _HTML_SPACE:
            end = i
            break
    url = s[start:end].decode("utf-8", errors="surrogateescape")
    if is_safe_url(url):
        metadata_ok = all(
            s[i] in _HTML_SPACE or (s[i] < 0x80 and chr(s[i]).isalnum()) for i in range(end, right)
        )
        if metadata_ok:
            out += s[left:start]
            out += process_url(url, True).encode("utf-8", errors="surrogateescape")
            out += s[end:right]
            return
    out += b"#" + FILTER_FAILSAFE.encode()


def srcset_escaper(args: list[Value]) -> str:
    s = stringify(args).encode("utf-8")
    out = bytearray()
    written = 0
    for i, c in enumerate(s):
        if c == 0x2C:
            _filter_srcset_element(s, written, i, out)
            out += b","
            written = i + 1
    _filter_srcset_element(s, written, len(s), out)
    return out.decode("utf-8")


# ---------------------------------------------------------------------------------------------
# js.go
# ---------------------------------------------------------------------------------------------
def js_val_escaper(args: list[Value]) -> str:
    a = args[0] if len(args) == 1 else sprint(args)
    b = json_marshal(a)
    if not b:
        return " null "
    pad = is_js_ident_part(ord(b[0])) or is_js_ident_part(ord(b[-1]))
    replaced = b.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if pad:
        return " " + replaced + " "
    return replaced


_LOW_UNICODE = {c: f"\\u{c:04x}" for c in range(0x20)}
_LOW_UNICODE.update({9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"})
_JS_STR = {
    0x22: "\\u0022", 0x60: "\\u0060", 0x26: "\\u0026", 0x27: "\\u0027", 0x2B: "\\u002b",
    0x2F: "\\/", 0x3C: "\\u003c", 0x3E: "\\u003e", 0x5C: "\\\\",
}  # fmt: skip
_JS_BQ = {**_JS_STR, 0x24: "\\u0024", 0x7B: "\\u007b", 0x7D: "\\u007d"}
_JS_REGEXP = {
    0x22: "\\u0022", 0x24: "\\$", 0x26: "\\u0026", 0x27: "\\u0027", 0x28: "\\(", 0x29: "\\)",
    0x2A: "\\*", 0x2B: "\\u002b", 0x2D: "\\-", 0x2E: "\\.", 0x2F: "\\/", 0x3C: "\\u003c",
    0x3E: "\\u003e", 0x3F: "\\?", 0x5B: "\\[", 0x5C: "\\\\", 0x5D: "\\]", 0x5E: "\\^",
    0x7B: "\\{", 0x7C: "\\|", 0x7D: "\\}",
}  # fmt: skip
_LS = {0x2028: "\\u2028", 0x2029: "\\u2029"}
_JS_STR_TRANS = str.maketrans({**_LS, **_JS_STR, **_LOW_UNICODE})
_JS_BQ_TRANS = str.maketrans({**_LS, **_JS_BQ, **_LOW_UNICODE})
_JS_REGEXP_TRANS = str.maketrans({**_LS, **_JS_REGEXP, **_LOW_UNICODE})


def js_str_escaper(args: list[Value]) -> str:
    return stringify(args).translate(_JS_STR_TRANS)


def js_tmpl_lit_escaper(args: list[Value]) -> str:
    return stringify(args).translate(_JS_BQ_TRANS)


def js_regexp_escaper(args: list[Value]) -> str:
    s = stringify(args).translate(_JS_REGEXP_TRANS)
    return s or "(?:)"


# ---------------------------------------------------------------------------------------------
# css.go
# ---------------------------------------------------------------------------------------------
_CSS_TABLE = {
    0: "\\0", 9: "\\9", 10: "\\a", 12: "\\c", 13: "\\d", 0x22: "\\22", 0x26: "\\26", 0x27: "\\27",
    0x28: "\\28", 0x29: "\\29", 0x2B: "\\2b", 0x2F: "\\2f", 0x3A: "\\3a", 0x3B: "\\3b",
    0x3C: "\\3c", 0x3E: "\\3e", 0x5C: "\\\\", 0x7B: "\\7b", 0x7D: "\\7d",
}  # fmt: skip


def css_escaper(args: list[Value]) -> str:
    s = stringify(args)
    out: list[str] = []
    n = len(s)
    for i, ch in enumerate(s):
        repl = _CSS_TABLE.get(ord(ch))
        if repl is None:
            out.append(ch)
            continue
        out.append(repl)
        if repl != "\\\\":
            if i + 1 == n:
                out.append(" ")
            else:
                nxt = s[i + 1]
                if nxt < "\x80" and (is_hex(ord(nxt)) or nxt in "\t\n\f\r "):
                    out.append(" ")
    return "".join(out)


_CSS_BAD = frozenset(b"\x00\"'()/;@[\\]`{}<>")


def css_value_filter(args: list[Value]) -> str:
    s = stringify(args)
    b = decode_css(s.encode("utf-8"))
    ident = bytearray()
    for i, c in enumerate(b):
        if c in _CSS_BAD:
            return FILTER_FAILSAFE
        if c == 0x2D:
            if i != 0 and b[i - 1] == 0x2D:
                return FILTER_FAILSAFE
        elif c < 0x80 and is_css_nmchar(c):
            ident.append(c)
    low = bytes(ident).lower()
    if b"expression" in low or b"mozbinding" in low:
        return FILTER_FAILSAFE
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        from .errors import GoTemplateError

        raise GoTemplateError("unsupported value", "CSS escape produced invalid UTF-8") from None


# ---------------------------------------------------------------------------------------------
# text/template builtins html, js, urlquery
# ---------------------------------------------------------------------------------------------
_TEXT_HTML_TRANS = str.maketrans(
    {0: "\ufffd", 0x22: "&#34;", 0x27: "&#39;", 0x26: "&amp;", 0x3C: "&lt;", 0x3E: "&gt;"}
)


def text_html_escaper(args: list[Value]) -> str:
    return _eval_args_text(args).translate(_TEXT_HTML_TRANS)


_JS_SPECIAL_ASCII = {
    0x5C: "\\\\",
    0x27: "\\'",
    0x22: '\\"',
    0x3C: "\\u003C",
    0x3E: "\\u003E",
    0x26: "\\u0026",
    0x3D: "\\u003D",
}


def text_js_escaper(args: list[Value]) -> str:
    s = _eval_args_text(args)
    out = []
    for ch in s:
        c = ord(ch)
        if c in _JS_SPECIAL_ASCII:
            out.append(_JS_SPECIAL_ASCII[c])
        elif c < 0x20:
            out.append(f"\\u00{c:02X}")
        elif c < 0x80 or is_print(ch):
            out.append(ch)
        else:
            out.append(f"\\u{c:04X}")
    return "".join(out)


_QUERY_OK = frozenset(b"-_.~abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def text_urlquery_escaper(args: list[Value]) -> str:
    b = _eval_args_text(args).encode("utf-8")
    out = bytearray()
    for c in b:
        if c in _QUERY_OK:
            out.append(c)
        elif c == 0x20:
            out.append(0x2B)
        else:
            out += b"%%%02X" % c
    return out.decode("ascii")


ESCAPERS: dict[str, Callable[[list[Value]], str]] = {
    "_html_template_attrescaper": html_escaper,
    "_html_template_commentescaper": comment_escaper,
    "_html_template_cssescaper": css_escaper,
    "_html_template_cssvaluefilter": css_value_filter,
    "_html_template_htmlnamefilter": html_name_filter,
    "_html_template_htmlescaper": html_escaper,
    "_html_template_jsregexpescaper": js_regexp_escaper,
    "_html_template_jsstrescaper": js_str_escaper,
    "_html_template_jstmpllitescaper": js_tmpl_lit_escaper,
    "_html_template_jsvalescaper": js_val_escaper,
    "_html_template_nospaceescaper": html_nospace_escaper,
    "_html_template_rcdataescaper": html_escaper,
    "_html_template_srcsetescaper": srcset_escaper,
    "_html_template_urlescaper": url_escaper,
    "_html_template_urlfilter": url_filter,
    "_html_template_urlnormalizer": url_normalizer,
    "_eval_args_": eval_args_html,
    "html": text_html_escaper,
    "js": text_js_escaper,
    "urlquery": text_urlquery_escaper,
}
