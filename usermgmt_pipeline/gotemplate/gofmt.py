"""Go ``fmt``/``strconv``/``encoding/json`` formatting for the few value kinds a template over a
``map[string]string`` can produce: string, bool, int, float64, the map itself and nil (``None``).

Hand-written because Python's formatting differs from Go's in many details (float exponents,
``%!verb(type=value)`` error forms, map printing). Anything not ported raises ``GoTemplateError``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from .errors import GoTemplateError

Value = str | bool | int | float | Mapping[str, str] | None


def type_name(v: Value) -> str:
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, Mapping):
        return "map[string]string"
    raise GoTemplateError("unsupported value", repr(type(v)))


# ---------------------------------------------------------------------------------------------
# strconv float formatting
# ---------------------------------------------------------------------------------------------
def _shortest_digits(v: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits (no trailing zeros) and decimal point position."""
    if v == 0:
        return "", 0
    r = repr(abs(v))
    mant, _, exp = r.partition("e")
    e = int(exp) if exp else 0
    if "." in mant:
        ip, fp = mant.split(".")
    else:
        ip, fp = mant, ""
    digits = (ip + fp).lstrip("0")
    lead = len(ip + fp) - len((ip + fp).lstrip("0"))
    dp = len(ip) + e - lead
    digits = digits.rstrip("0")
    return digits, dp


def _rounded_digits(v: float, nsig: int) -> tuple[str, int]:
    """Digits correctly rounded to ``nsig`` significant digits (trailing zeros trimmed)."""
    if v == 0:
        return "", 0
    s = f"{abs(v):.{max(nsig - 1, 0)}e}"
    mant, _, exp = s.partition("e")
    digits = mant.replace(".", "").rstrip("0")
    return digits, int(exp) + 1


def _fmt_e(neg: bool, digits: str, dp: int, prec: int, ch: str) -> str:
    out = "-" if neg else ""
    out += digits[0] if digits else "0"
    if prec > 0:
        out += "." + (digits[1 : 1 + prec]).ljust(prec, "0")
    exp = 0 if not digits else dp - 1
    sign = "-" if exp < 0 else "+"
    exp = abs(exp)
    out += ch + sign + (f"{exp:02d}")
    return out


def _fmt_f(neg: bool, digits: str, dp: int, prec: int) -> str:
    out = "-" if neg else ""
    if dp > 0:
        out += digits[:dp].ljust(dp, "0")
    else:
        out += "0"
    if prec > 0:
        frac = ""
        for i in range(1, prec + 1):
            j = dp + i - 1
            frac += digits[j] if 0 <= j < len(digits) else "0"
        out += "." + frac
    return out


def format_float(v: float, fmt: str, prec: int) -> str:
    """strconv.FormatFloat(v, fmt, prec, 64) for fmt in 'eEfgG'."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    neg = str(v).startswith("-")
    if fmt in "eE":
        if prec < 0:
            digits, dp = _shortest_digits(v)
            return _fmt_e(neg, digits, dp, max(len(digits) - 1, 0), fmt)
        digits, dp = _rounded_digits(v, prec + 1)
        return _fmt_e(neg, digits, dp, prec, fmt)
    if fmt == "f":
        if prec < 0:
            digits, dp = _shortest_digits(v)
            return _fmt_f(neg, digits, dp, max(len(digits) - dp, 0))
        s = f"{abs(v):.{prec}f}"
        return ("-" if neg else "") + s
    if fmt in "gG":
        shortest = prec < 0
        if shortest:
            digits, dp = _shortest_digits(v)
            prec = len(digits)
        else:
            if prec == 0:
                prec = 1
            digits, dp = _rounded_digits(v, prec)
        eprec = prec
        if eprec > len(digits) and len(digits) >= dp:
            eprec = len(digits)
        if shortest:
            eprec = 6
        exp = dp - 1
        if exp < -4 or exp >= eprec:
            if prec > len(digits):
                prec = len(digits)
            return _fmt_e(neg, digits, dp, prec - 1, "e" if fmt == "g" else "E")
        if prec > dp:
            prec = len(digits)
        return _fmt_f(neg, digits, dp, max(prec - dp, 0))
    raise GoTemplateError("unsupported printf verb", f"float format {fmt}")


# ---------------------------------------------------------------------------------------------
# strconv.Quote
# ---------------------------------------------------------------------------------------------
def is_print(r: str) -> bool:
    """unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    if r == " ":
        return True
    return unicodedata.category(r)[0] in "LMNPS"


_QUOTE_ESC = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def _quote_rune_body(r: str, quote: str, ascii_only: bool) -> str:
    c = ord(r)
    if r == quote or r == "\\":
        return "\\" + r
    if ascii_only:
        if c < 0x80 and is_print(r):
            return r
    elif is_print(r):
        return r
    if c in _QUOTE_ESC:
        return _QUOTE_ESC[c]
    if c < ord(" ") or c == 0x7F:
        return f"\\x{c:02x}"
    if c > 0x10FFFF or 0xD800 <= c <= 0xDFFF:
        return "\\ufffd"
    if c < 0x10000:
        return f"\\u{c:04x}"
    return f"\\U{c:08x}"


def quote(s: str, ascii_only: bool = False) -> str:
    return '"' + "".join(_quote_rune_body(r, '"', ascii_only) for r in s) + '"'


def quote_rune(c: int) -> str:
    if c > 0x10FFFF or 0xD800 <= c <= 0xDFFF or c < 0:
        c = 0xFFFD
    return "'" + _quote_rune_body(chr(c), "'", False) + "'"


# ---------------------------------------------------------------------------------------------
# fmt
# ---------------------------------------------------------------------------------------------
class _Flags:
    __slots__ = ("minus", "plus", "prec", "sharp", "space", "wid", "zero")

    def __init__(self) -> None:
        self.sharp = self.zero = self.plus = self.minus = self.space = False
        self.wid: int | None = None
        self.prec: int | None = None


def _padding(f: _Flags, n: int) -> str:
    if n <= 0:
        return ""
    return ("0" if f.zero and not f.minus else " ") * n


def _pad(f: _Flags, s: str) -> str:
    if not f.wid:
        return s
    width = f.wid - len(s)
    if not f.minus:
        return _padding(f, width) + s
    return s + _padding(f, width)


def _fmt_integer(f: _Flags, v: int, base: int, verb: str, upper: bool) -> str:
    negative = v < 0
    u = -v if negative else v
    if f.prec is not None:
        prec = f.prec
        if prec == 0 and u == 0:
            old = f.zero
            f.zero = False
            out = _padding(f, f.wid or 0)
            f.zero = old
            return out
    elif f.zero and not f.minus and f.wid is not None:
        prec = f.wid
        if negative or f.plus or f.space:
            prec -= 1
    else:
        prec = 0
    if base == 10:
        digits = str(u)
    elif base == 16:
        digits = format(u, "X" if upper else "x")
    elif base == 8:
        digits = format(u, "o")
    else:
        digits = format(u, "b")
    digits = digits.rjust(prec, "0")
    if f.sharp:
        if base == 2:
            digits = "0b" + digits
        elif base == 8 and digits[0] != "0":
            digits = "0" + digits
        elif base == 16:
            digits = ("0X" if upper else "0x") + digits
    if verb == "O":
        digits = "0o" + digits
    if negative:
        digits = "-" + digits
    elif f.plus:
        digits = "+" + digits
    elif f.space:
        digits = " " + digits
    old = f.zero
    f.zero = False
    out = _pad(f, digits)
    f.zero = old
    return out


def _fmt_float(f: _Flags, v: float, verb: str, prec: int) -> str:
    if f.sharp:
        raise GoTemplateError("unsupported printf verb", f"%#{verb} on float")
    if f.prec is not None:
        prec = f.prec
    num = format_float(v, verb, prec)
    if num[0] not in "+-":
        num = "+" + num
    if f.space and num[0] == "+" and not f.plus:
        num = " " + num[1:]
    if num[1] in "IN":
        old = f.zero
        f.zero = False
        if num[1] == "N" and not f.space and not f.plus:
            num = num[1:]
        out = _pad(f, num)
        f.zero = old
        return out
    if f.plus or num[0] != "+":
        if f.zero and not f.minus and f.wid is not None and f.wid > len(num):
            return num[0] + _padding(f, f.wid - len(num)) + num[1:]
        return _pad(f, num)
    return _pad(f, num[1:])


def _truncate(f: _Flags, s: str) -> str:
    if f.prec is not None:
        return s[: f.prec]
    return s


def _fmt_sx(f: _Flags, s: str, upper: bool) -> str:
    b = s.encode("utf-8")
    length = len(b)
    if f.prec is not None and f.prec < length:
        length = f.prec
    width = 2 * length
    if width > 0:
        if f.space:
            if f.sharp:
                width *= 2
            width += length - 1
        elif f.sharp:
            width += 2
    else:
        return _padding(f, f.wid) if f.wid is not None else ""
    digits = "0123456789ABCDEFX" if upper else "0123456789abcdefx"
    out = ""
    if f.wid is not None and f.wid > width and not f.minus:
        out += _padding(f, f.wid - width)
    if f.sharp:
        out += "0" + digits[16]
    for i in range(length):
        if f.space and i > 0:
            out += " "
            if f.sharp:
                out += "0" + digits[16]
        c = b[i]
        out += digits[c >> 4] + digits[c & 0xF]
    if f.wid is not None and f.wid > width and f.minus:
        out += _padding(f, f.wid - width)
    return out


def _bad_verb(f: _Flags, verb: str, v: Value) -> str:
    if v is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(v)}={_print_arg(f, v, 'v')})"


def _print_arg(f: _Flags, v: Value, verb: str) -> str:
    if v is None:
        if verb in "Tv":
            return _pad(f, "<nil>")
        return _bad_verb(f, verb, v)
    if verb == "T":
        return _pad(f, _truncate(f, type_name(v)))
    if verb == "p":
        raise GoTemplateError("unsupported printf verb", "%p")
    if isinstance(v, bool):
        if verb in "tv":
            return _pad(f, "true" if v else "false")
        return _bad_verb(f, verb, v)
    if isinstance(v, int):
        if not -(1 << 63) <= v < (1 << 63):
            raise GoTemplateError("unsupported value", "integer overflow")
        if verb in "vd":
            return _fmt_integer(f, v, 10, verb, False)
        if verb == "b":
            return _fmt_integer(f, v, 2, verb, False)
        if verb in "oO":
            return _fmt_integer(f, v, 8, verb, False)
        if verb in "xX":
            return _fmt_integer(f, v, 16, verb, verb == "X")
        if verb == "c":
            c = v if 0 <= v <= 0x10FFFF and not 0xD800 <= v <= 0xDFFF else 0xFFFD
            return _pad(f, chr(c))
        if verb == "q":
            if f.sharp or f.plus:
                raise GoTemplateError("unsupported printf verb", "%#q/%+q on int")
            return _pad(f, quote_rune(v))
        if verb == "U":
            if f.sharp:
                raise GoTemplateError("unsupported printf verb", "%#U")
            old = f.zero
            f.zero = False
            prec = 4
            if f.prec is not None and f.prec > 4:
                prec = f.prec
            out = _pad(f, "U+" + format(v & 0xFFFFFFFFFFFFFFFF, "X").rjust(prec, "0"))
            f.zero = old
            return out
        return _bad_verb(f, verb, v)
    if isinstance(v, float):
        if verb == "v":
            return _fmt_float(f, v, "g", -1)
        if verb in "gG":
            return _fmt_float(f, v, verb, -1)
        if verb in "feE":
            return _fmt_float(f, v, verb, 6)
        if verb == "F":
            return _fmt_float(f, v, "f", 6)
        if verb in "bxX":
            raise GoTemplateError("unsupported printf verb", f"%{verb} on float")
        return _bad_verb(f, verb, v)
    if isinstance(v, str):
        if verb in "vs":
            return _pad(f, _truncate(f, v))
        if verb in "xX":
            return _fmt_sx(f, v, verb == "X")
        if verb == "q":
            s = _truncate(f, v)
            if f.sharp:
                raise GoTemplateError("unsupported printf verb", "%#q")
            return _pad(f, quote(s, ascii_only=f.plus))
        return _bad_verb(f, verb, v)
    if isinstance(v, Mapping):
        parts = [f"{_print_arg(f, k, verb)}:{_print_arg(f, v[k], verb)}" for k in sorted(v)]
        return "map[" + " ".join(parts) + "]"
    raise GoTemplateError("unsupported value", repr(type(v)))


def sprint_one(v: Value) -> str:
    return _print_arg(_Flags(), v, "v")


def sprint(args: list[Value]) -> str:
    out = []
    prev_string = False
    for i, a in enumerate(args):
        is_string = isinstance(a, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(_print_arg(_Flags(), a, "v"))
        prev_string = is_string
    return "".join(out)


def sprintln(args: list[Value]) -> str:
    return " ".join(_print_arg(_Flags(), a, "v") for a in args) + "\n"


def _parsenum(s: str, i: int) -> tuple[int | None, int]:
    start = i
    while i < len(s) and "0" <= s[i] <= "9":
        i += 1
        if i - start > 6:  # Go's tooLarge guard (1e6)
            raise GoTemplateError("unsupported printf verb", "huge width")
    if i == start:
        return None, i
    return int(s[start:i]), i


def sprintf(fmt: str, args: list[Value]) -> str:
    out: list[str] = []
    arg_num = 0
    i = 0
    end = len(fmt)
    while i < end:
        lasti = i
        while i < end and fmt[i] != "%":
            i += 1
        if i > lasti:
            out.append(fmt[lasti:i])
        if i >= end:
            break
        i += 1
        f = _Flags()
        while i < end:
            c = fmt[i]
            if c == "#":
                f.sharp = True
            elif c == "0":
                f.zero = True
            elif c == "+":
                f.plus = True
            elif c == "-":
                f.minus = True
            elif c == " ":
                f.space = True
            else:
                break
            i += 1
        if i < end and fmt[i] in "[*":
            raise GoTemplateError("unsupported printf verb", "argument indexes and * widths")
        f.wid, i = _parsenum(fmt, i)
        if i + 1 < end and fmt[i] == ".":
            i += 1
            if fmt[i] in "[*":
                raise GoTemplateError("unsupported printf verb", "argument indexes and * precisions")
            f.prec, i = _parsenum(fmt, i)
            if f.prec is None:
                f.prec = 0
        if i < end and fmt[i] == "[":
            raise GoTemplateError("unsupported printf verb", "argument indexes")
        if i >= end:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if arg_num >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        if verb == "w":
            raise GoTemplateError("unsupported printf verb", "%w")
        if verb == "v":
            if f.sharp:
                raise GoTemplateError("unsupported printf verb", "%#v")
            f.plus = False
        out.append(_print_arg(f, args[arg_num], verb))
        arg_num += 1
    if arg_num < len(args):
        extra = []
        for a in args[arg_num:]:
            if a is None:
                extra.append("<nil>")
            else:
                extra.append(f"{type_name(a)}={_print_arg(_Flags(), a, 'v')}")
        out.append("%!(EXTRA " + ", ".join(extra) + ")")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# encoding/json (as used by html/template's jsValEscaper)
# ---------------------------------------------------------------------------------------------
def _json_string(s: str) -> str:
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif c < 0x20:
            out.append({8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t"}.get(c, f"\\u00{c:02x}"))
        elif ch in "<>&":
            out.append(f"\\u00{c:02x}")
        elif c in (0x2028, 0x2029):
            out.append(f"\\u{c:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_float(v: float) -> str:
    if v != v or v in (float("inf"), float("-inf")):
        raise GoTemplateError("unsupported value", "non-finite float")
    a = abs(v)
    fmt = "f"
    if a != 0 and (a < 1e-6 or a >= 1e21):
        fmt = "e"
    s = format_float(v, fmt, -1)
    if fmt == "e":
        n = len(s)
        if n >= 4 and s[n - 4] == "e" and s[n - 3] == "-" and s[n - 2] == "0":
            s = s[: n - 2] + s[n - 1]
    return s


def json_marshal(v: Value) -> str:
    if v is None:
        return "null"
    if isinstance(v, str):
        return _json_string(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, Mapping):
        return "{" + ",".join(f"{_json_string(k)}:{_json_string(v[k])}" for k in sorted(v)) + "}"
    raise GoTemplateError("unsupported value", repr(type(v)))
