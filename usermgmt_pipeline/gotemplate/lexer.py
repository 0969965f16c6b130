"""Port of Go's ``text/template/parse/lex.go`` (default ``{{``/``}}`` delimiters, no comment items).

Hand-written because no Python library tokenises Go templates; it follows the Go state machine
token for token so that the set of accepted sources is exactly Go's.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import IntEnum, auto
from typing import Protocol


class Item(IntEnum):
    ERROR = auto()
    BOOL = auto()
    CHAR = auto()
    CHAR_CONSTANT = auto()
    COMMENT = auto()
    COMPLEX = auto()
    ASSIGN = auto()
    DECLARE = auto()
    EOF = auto()
    FIELD = auto()
    IDENTIFIER = auto()
    LEFT_DELIM = auto()
    LEFT_PAREN = auto()
    NUMBER = auto()
    PIPE = auto()
    RAW_STRING = auto()
    RIGHT_DELIM = auto()
    RIGHT_PAREN = auto()
    SPACE = auto()
    STRING = auto()
    TEXT = auto()
    VARIABLE = auto()
    KEYWORD = auto()
    BLOCK = auto()
    BREAK = auto()
    CONTINUE = auto()
    DOT = auto()
    DEFINE = auto()
    ELSE = auto()
    END = auto()
    IF = auto()
    NIL = auto()
    RANGE = auto()
    TEMPLATE = auto()
    WITH = auto()


KEYWORDS = {
    ".": Item.DOT,
    "block": Item.BLOCK,
    "break": Item.BREAK,
    "continue": Item.CONTINUE,
    "define": Item.DEFINE,
    "else": Item.ELSE,
    "end": Item.END,
    "if": Item.IF,
    "range": Item.RANGE,
    "nil": Item.NIL,
    "template": Item.TEMPLATE,
    "with": Item.WITH,
}

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
LEFT_COMMENT = "/*"
RIGHT_COMMENT = "*/"
SPACE_CHARS = " \t\r\n"
EOF_CHAR = ""


@dataclass(slots=True)
class Token:
    typ: Item
    pos: int
    val: str
    line: int


def is_space(r: str) -> bool:
    return r in (" ", "\t", "\r", "\n") and r != ""


def is_alnum(r: str) -> bool:
    """Go's ``isAlphaNumeric``: '_' or a Unicode letter (L*) or decimal digit (Nd)."""
    if r == "":
        return False
    if r == "_":
        return True
    if r < "\x80":
        return r.isalnum()
    cat = unicodedata.category(r)
    return cat[0] == "L" or cat == "Nd"


def has_left_trim(s: str, pos: int) -> bool:
    return len(s) - pos >= 2 and s[pos] == "-" and is_space(s[pos + 1])


def has_right_trim(s: str, pos: int) -> bool:
    return len(s) - pos >= 2 and is_space(s[pos]) and s[pos + 1] == "-"


class StateFn(Protocol):
    """Go's ``stateFn``: a state of the lexer returns the next state, or None to stop the machine."""

    def __call__(self) -> StateFn | None: ...


class Lexer:
    """Produces tokens on demand like Go's lexer (``next_item``)."""

    def __init__(self, text: str, *, break_ok: bool = True, continue_ok: bool = True) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.at_eof = False
        self.paren_depth = 0
        self.line = 1
        self.start_line = 1
        self.item: Token | None = None
        self.inside_action = False
        self.break_ok = break_ok
        self.continue_ok = continue_ok

    # -- primitives -----------------------------------------------------------------------------
    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return EOF_CHAR
        r = self.input[self.pos]
        self.pos += 1
        if r == "\n":
            self.line += 1
        return r

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def this_item(self, t: Item) -> Token:
        i = Token(t, self.start, self.input[self.start : self.pos], self.start_line)
        self.start = self.pos
        self.start_line = self.line
        return i

    def emit(self, t: Item) -> StateFn | None:
        """Returns Go's nil state so that ``return self.emit(...)`` ends ``next_item``, as in lex.go."""
        self.item = self.this_item(t)
        return None

    def emit_item(self, i: Token) -> StateFn | None:
        self.item = i
        return None

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        r = self.next()
        if r != "" and r in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            r = self.next()
            if r == "" or r not in valid:
                break
        self.backup()

    def errorf(self, msg: str) -> StateFn | None:
        self.item = Token(Item.ERROR, self.start, msg, self.start_line)
        self.start = 0
        self.pos = 0
        self.input = ""
        return None

    def next_item(self) -> Token:
        self.item = Token(Item.EOF, self.pos, "EOF", self.start_line)
        state: StateFn | None = self.lex_inside_action if self.inside_action else self.lex_text
        while state is not None:
            state = state()
        assert self.item is not None
        return self.item

    # -- states ---------------------------------------------------------------------------------
    def lex_text(self) -> StateFn | None:
        x = self.input.find(LEFT_DELIM, self.pos)
        if x >= 0:
            if x > self.pos:
                self.pos = x
                trim = 0
                delim_end = self.pos + len(LEFT_DELIM)
                if has_left_trim(self.input, delim_end):
                    seg = self.input[self.start : self.pos]
                    trim = len(seg) - len(seg.rstrip(SPACE_CHARS))
                self.pos -= trim
                self.line += self.input.count("\n", self.start, self.pos)
                i = self.this_item(Item.TEXT)
                self.pos += trim
                self.ignore()
                if i.val:
                    return self.emit_item(i)
            return self.lex_left_delim
        self.pos = len(self.input)
        if self.pos > self.start:
            self.line += self.input.count("\n", self.start, self.pos)
            return self.emit(Item.TEXT)
        return self.emit(Item.EOF)

    def at_right_delim(self) -> tuple[bool, bool]:
        if has_right_trim(self.input, self.pos) and self.input.startswith(RIGHT_DELIM, self.pos + 2):
            return True, True
        if self.input.startswith(RIGHT_DELIM, self.pos):
            return True, False
        return False, False

    def lex_left_delim(self) -> StateFn | None:
        self.pos += len(LEFT_DELIM)
        trim = has_left_trim(self.input, self.pos)
        after = 2 if trim else 0
        if self.input.startswith(LEFT_COMMENT, self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment
        i = self.this_item(Item.LEFT_DELIM)
        self.inside_action = True
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        return self.emit_item(i)

    def lex_comment(self) -> StateFn | None:
        self.pos += len(LEFT_COMMENT)
        x = self.input.find(RIGHT_COMMENT, self.pos)
        if x < 0:
            return self.errorf("unclosed comment")
        self.pos = x + len(RIGHT_COMMENT)
        delim, trim = self.at_right_delim()
        if not delim:
            return self.errorf("comment ends before closing delimiter")
        self.line += self.input.count("\n", self.start, self.pos)
        self.this_item(Item.COMMENT)
        if trim:
            self.pos += 2
        self.pos += len(RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
        self.ignore()
        return self.lex_text

    def lex_right_delim(self) -> StateFn | None:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += len(RIGHT_DELIM)
        i = self.this_item(Item.RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
            self.ignore()
        self.inside_action = False
        return self.emit_item(i)

    def lex_inside_action(self) -> StateFn | None:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            return self.errorf("unclosed left paren")
        r = self.next()
        if r == EOF_CHAR:
            return self.errorf("unclosed action")
        if is_space(r):
            self.backup()
            return self.lex_space
        if r == "=":
            return self.emit(Item.ASSIGN)
        if r == ":":
            if self.next() != "=":
                return self.errorf("expected :=")
            return self.emit(Item.DECLARE)
        if r == "|":
            return self.emit(Item.PIPE)
        if r == '"':
            return self.lex_quote
        if r == "`":
            return self.lex_raw_quote
        if r == "$":
            return self.lex_variable
        if r == "'":
            return self.lex_char
        if r == ".":
            if self.pos < len(self.input):
                c = self.input[self.pos]
                if c < "0" or c > "9":
                    return self.lex_field
            self.backup()
            return self.lex_number
        if r in "+-" or "0" <= r <= "9":
            self.backup()
            return self.lex_number
        if is_alnum(r):
            self.backup()
            return self.lex_identifier
        if r == "(":
            self.paren_depth += 1
            return self.emit(Item.LEFT_PAREN)
        if r == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self.errorf("unexpected right paren")
            return self.emit(Item.RIGHT_PAREN)
        if " " <= r <= "~":
            return self.emit(Item.CHAR)
        return self.errorf(f"unrecognized character in action: {r!r}")

    def lex_space(self) -> StateFn | None:
        num = 0
        while True:
            r = self.peek()
            if not is_space(r):
                break
            self.next()
            num += 1
        if has_right_trim(self.input, self.pos - 1) and self.input.startswith(RIGHT_DELIM, self.pos - 1 + 2):
            self.backup()
            if num == 1:
                return self.lex_right_delim
        return self.emit(Item.SPACE)

    def lex_identifier(self) -> StateFn | None:
        while True:
            r = self.next()
            if is_alnum(r):
                continue
            self.backup()
            word = self.input[self.start : self.pos]
            if not self.at_terminator():
                return self.errorf(f"bad character {r!r}")
            kw = KEYWORDS.get(word)
            if kw is not None and kw > Item.KEYWORD:
                if (kw == Item.BREAK and not self.break_ok) or (kw == Item.CONTINUE and not self.continue_ok):
                    return self.emit(Item.IDENTIFIER)
                return self.emit(kw)
            if word[0] == ".":
                return self.emit(Item.FIELD)
            if word in ("true", "false"):
                return self.emit(Item.BOOL)
            return self.emit(Item.IDENTIFIER)

    def lex_field(self) -> StateFn | None:
        return self.lex_field_or_variable(Item.FIELD)

    def lex_variable(self) -> StateFn | None:
        if self.at_terminator():
            return self.emit(Item.VARIABLE)
        return self.lex_field_or_variable(Item.VARIABLE)

    def lex_field_or_variable(self, typ: Item) -> StateFn | None:
        if self.at_terminator():
            if typ == Item.VARIABLE:
                return self.emit(Item.VARIABLE)
            return self.emit(Item.DOT)
        while True:
            r = self.next()
            if not is_alnum(r):
                self.backup()
                break
        if not self.at_terminator():
            return self.errorf(f"bad character {r!r}")
        return self.emit(typ)

    def at_terminator(self) -> bool:
        r = self.peek()
        if is_space(r):
            return True
        if r in (EOF_CHAR, ".", ",", "|", ":", ")", "("):
            return True
        return self.input.startswith(RIGHT_DELIM, self.pos)

    def lex_char(self) -> StateFn | None:
        while True:
            r = self.next()
            if r == "\\":
                r2 = self.next()
                if r2 != EOF_CHAR and r2 != "\n":
                    continue
                return self.errorf("unterminated character constant")
            if r in (EOF_CHAR, "\n"):
                return self.errorf("unterminated character constant")
            if r == "'":
                break
        return self.emit(Item.CHAR_CONSTANT)

    def lex_number(self) -> StateFn | None:
        if not self.scan_number():
            return self.errorf(f"bad number syntax: {self.input[self.start : self.pos]!r}")
        sign = self.peek()
        if sign in ("+", "-") and sign != "":
            if not self.scan_number() or self.input[self.pos - 1] != "i":
                return self.errorf(f"bad number syntax: {self.input[self.start : self.pos]!r}")
            return self.emit(Item.COMPLEX)
        return self.emit(Item.NUMBER)

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if is_alnum(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self) -> StateFn | None:
        while True:
            r = self.next()
            if r == "\\":
                r2 = self.next()
                if r2 != EOF_CHAR and r2 != "\n":
                    continue
                return self.errorf("unterminated quoted string")
            if r in (EOF_CHAR, "\n"):
                return self.errorf("unterminated quoted string")
            if r == '"':
                break
        return self.emit(Item.STRING)

    def lex_raw_quote(self) -> StateFn | None:
        while True:
            r = self.next()
            if r == EOF_CHAR:
                return self.errorf("unterminated raw quoted string")
            if r == "`":
                break
        return self.emit(Item.RAW_STRING)
