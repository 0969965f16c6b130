"""Port of Go's ``text/template/parse/parse.go`` producing :mod:`.nodes` trees.

``parse_templates`` returns the "tree set" Go builds for ``template.New(name).Parse(source)``:
every ``define``/``block`` plus the main template, each a :class:`ListNode`.
"""

from __future__ import annotations

import re
from typing import NoReturn

from .errors import GoTemplateError
from .lexer import Item, Lexer, Token
from .nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
    WithNode,
    is_empty_tree,
)

# text/template builtins; html/template adds its escapers only after parsing, so they are unknown here.
BUILTIN_FUNCS = frozenset(
    {
        "and",
        "call",
        "html",
        "index",
        "slice",
        "js",
        "len",
        "not",
        "or",
        "print",
        "printf",
        "println",
        "urlquery",
        "eq",
        "ge",
        "gt",
        "le",
        "lt",
        "ne",
    }
)

MAX_STACK_DEPTH = 10000


class ParseError(GoTemplateError):
    def __init__(self, detail: str) -> None:
        super().__init__("parse error", detail)


# ---------------------------------------------------------------------------------------------
# strconv helpers
# ---------------------------------------------------------------------------------------------
_SIMPLE_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unquote_char(s: str, i: int, quote: str) -> tuple[bytes, int]:
    """strconv.UnquoteChar on ``s[i:]``; returns the UTF-8 bytes of the value and the new index."""
    if i >= len(s):
        raise ParseError("invalid syntax")
    c = s[i]
    if c == quote and quote in "'\"":
        raise ParseError("invalid syntax")
    if c != "\\":
        return c.encode("utf-8"), i + 1
    if i + 1 >= len(s):
        raise ParseError("invalid syntax")
    c = s[i + 1]
    i += 2
    if c in _SIMPLE_ESC:
        return bytes([_SIMPLE_ESC[c]]), i
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i : i + n]
        if len(digits) < n or not all(d in "0123456789abcdefABCDEF" for d in digits):
            raise ParseError("invalid syntax")
        v = int(digits, 16)
        i += n
        if c == "x":
            return bytes([v]) if quote != "'" else chr(v).encode("utf-8"), i
        if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
            raise ParseError("invalid syntax")
        return chr(v).encode("utf-8"), i
    if c in "01234567":
        digits = s[i : i + 2]
        if len(digits) < 2 or not all(d in "01234567" for d in digits):
            raise ParseError("invalid syntax")
        v = int(c + digits, 8)
        if v > 255:
            raise ParseError("invalid syntax")
        return (bytes([v]) if quote != "'" else chr(v).encode("utf-8")), i + 2
    if c in "'\"":
        if c != quote:
            raise ParseError("invalid syntax")
        return c.encode(), i
    raise ParseError("invalid syntax")


def unquote(token: str) -> str:
    """strconv.Unquote for the string tokens the lexer produces."""
    if token.startswith("`"):
        if len(token) < 2 or not token.endswith("`") or "`" in token[1:-1]:
            raise ParseError("invalid syntax")
        return token[1:-1].replace("\r", "")
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise ParseError("invalid syntax")
    body = token[1:-1]
    if "\n" in body:
        raise ParseError("invalid syntax")
    out = bytearray()
    i = 0
    while i < len(body):
        b, i = _unquote_char(body, i, '"')
        out += b
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise GoTemplateError("unsupported string literal", "escapes produce invalid UTF-8") from None


def _underscore_ok(s: str) -> bool:
    """strconv.underscoreOK."""
    saw = "^"
    i = 0
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1] in "bBoOxX":
        i = 2
        saw = "0"
        hexa = s[1] in "xX"
    while i < len(s):
        c = s[i]
        if "0" <= c <= "9" or (hexa and c in "abcdefABCDEF"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def _parse_uint_base0(s: str) -> int | None:
    """strconv.ParseUint(s, 0, 64) (no sign allowed)."""
    if not s:
        return None
    body = s
    base = 10
    if s[0] == "0":
        if len(s) >= 3 and s[1] in "xX":
            base, body = 16, s[2:]
        elif len(s) >= 3 and s[1] in "oO":
            base, body = 8, s[2:]
        elif len(s) >= 3 and s[1] in "bB":
            base, body = 2, s[2:]
        else:
            base, body = 8, s[1:]
    if "_" in s and not _underscore_ok(s):
        return None
    body = body.replace("_", "")
    if body == "" and base == 8 and s.strip("_") == "0":
        return 0
    if body == "":
        return None
    valid = "0123456789abcdefABCDEF"[: base if base <= 10 else 10 + (base - 10) * 2]
    if base == 16:
        valid = "0123456789abcdefABCDEF"
    if not all(c in valid for c in body):
        return None
    v = int(body, base)
    if v >= 1 << 64:
        return None
    return v


def _parse_int_base0(s: str) -> int | None:
    neg = False
    t = s
    if t[:1] in ("+", "-"):
        neg = t[0] == "-"
        t = t[1:]
    u = _parse_uint_base0(t)
    if u is None:
        return None
    v = -u if neg else u
    if not -(1 << 63) <= v < (1 << 63):
        return None
    return v


_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+")


def _parse_float(s: str) -> float | None:
    """strconv.ParseFloat(s, 64) for the literal shapes the lexer can produce; None on error."""
    if _DEC_FLOAT.fullmatch(s):
        if "_" in s and not _underscore_ok(s):
            return None
        t = s.replace("_", "")
        if not any(c.isdigit() for c in t.split("e")[0].split("E")[0]):
            return None
        try:
            f = float(t)
        except ValueError:
            return None
    elif _HEX_FLOAT.fullmatch(s):
        if "_" in s and not _underscore_ok(s):
            return None
        t = s.replace("_", "")
        try:
            f = float.fromhex(t)
        except (ValueError, OverflowError):
            return None
    else:
        return None
    if f in (float("inf"), float("-inf")):
        return None
    return f


def new_number(text: str, typ: Item) -> NumberNode:
    n = NumberNode(text)
    if typ == Item.CHAR_CONSTANT:
        body = text[1:]
        value, i = _unquote_char(body, 0, "'")
        if body[i:] != "'":
            raise ParseError(f"malformed character constant: {text}")
        r = ord(value.decode("utf-8", errors="surrogateescape")[0]) if len(value) > 1 else value[0]
        n.int64 = n.uint64 = r
        n.float64 = float(r)
        n.is_int = n.is_uint = n.is_float = True
        return n
    if typ == Item.COMPLEX or text.endswith("i"):
        raise GoTemplateError("unsupported number", f"complex constant {text}")
    u = _parse_uint_base0(text)
    if u is not None:
        n.is_uint = True
        n.uint64 = u
    signed = _parse_int_base0(text)
    if signed is not None:
        n.is_int = True
        n.int64 = signed
        if signed == 0:
            n.is_uint = True
            n.uint64 = u if u is not None else 0
    if n.is_int:
        n.is_float = True
        n.float64 = float(n.int64)
    elif n.is_uint:
        n.is_float = True
        n.float64 = float(n.uint64)
    else:
        f = _parse_float(text)
        if f is not None:
            if not any(c in text for c in ".eEpP"):
                raise ParseError(f"integer overflow: {text!r}")
            n.is_float = True
            n.float64 = f
            if not n.is_int and f == int(f) and -(1 << 63) <= int(f) < (1 << 63):
                n.is_int = True
                n.int64 = int(f)
            if not n.is_uint and f == int(f) and 0 <= int(f) < (1 << 64):
                n.is_uint = True
                n.uint64 = int(f)
    if not (n.is_int or n.is_uint or n.is_float):
        raise ParseError(f"illegal number syntax: {text!r}")
    return n


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------
# Go's zero ``item``: what the lookahead buffer holds before the first token is read.
_ZERO_TOKEN = Token(Item.ERROR, 0, "", 0)


class _Tree:
    def __init__(self, name: str, lex: Lexer, tree_set: dict[str, ListNode]) -> None:
        self.name = name
        self.lex = lex
        self.tree_set = tree_set
        self.root: ListNode | None = None
        self.token: list[Token] = [_ZERO_TOKEN] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.stack_depth = 0

    # lookahead ---------------------------------------------------------------------------------
    def next(self) -> Token:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: Token) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: Token, t1: Token) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> Token:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def next_non_space(self) -> Token:
        while True:
            tok = self.next()
            if tok.typ != Item.SPACE:
                return tok

    def peek_non_space(self) -> Token:
        tok = self.next_non_space()
        self.backup()
        return tok

    def errorf(self, msg: str) -> NoReturn:
        raise ParseError(f"{self.name}:{self.token[0].line}: {msg}")

    def expect(self, expected: Item, context: str) -> Token:
        tok = self.next_non_space()
        if tok.typ != expected:
            self.unexpected(tok, context)
        return tok

    def expect_one_of(self, e1: Item, e2: Item, context: str) -> Token:
        tok = self.next_non_space()
        if tok.typ not in (e1, e2):
            self.unexpected(tok, context)
        return tok

    def unexpected(self, tok: Token, context: str) -> NoReturn:
        if tok.typ == Item.ERROR:
            self.errorf(tok.val)
        self.errorf(f"unexpected {tok.val!r} in {context}")

    # structure ---------------------------------------------------------------------------------
    def add(self) -> None:
        tree = self.tree_set.get(self.name)
        if tree is None or is_empty_tree(tree):
            assert self.root is not None
            self.tree_set[self.name] = self.root
            return
        if not is_empty_tree(self.root):
            self.errorf(f"template: multiple definition of template {self.name!r}")

    def parse(self) -> None:
        self.root = ListNode()
        while self.peek().typ != Item.EOF:
            if self.peek().typ == Item.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == Item.DEFINE:
                    new_t = _Tree("definition", self.lex, self.tree_set)
                    new_t.parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, (EndNode, ElseNode)):
                self.errorf(f"unexpected {type(n).__name__}")
            self.root.nodes.append(n)

    def parse_definition(self) -> None:
        context = "define clause"
        name = self.expect_one_of(Item.STRING, Item.RAW_STRING, context)
        self.name = unquote(name.val)
        self.expect(Item.RIGHT_DELIM, context)
        self.root, end = self.item_list()
        if not isinstance(end, EndNode):
            self.errorf(f"unexpected else in {context}")
        self.add()

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode()
        while self.peek_non_space().typ != Item.EOF:
            n = self.text_or_action()
            if isinstance(n, (EndNode, ElseNode)):
                return lst, n
            lst.nodes.append(n)
        self.errorf("unexpected EOF")
        raise AssertionError

    def text_or_action(self) -> Node:
        tok = self.next_non_space()
        if tok.typ == Item.TEXT:
            return TextNode(tok.val.encode("utf-8"))
        if tok.typ == Item.LEFT_DELIM:
            return self.action()
        self.unexpected(tok, "input")
        raise AssertionError

    def action(self) -> Node:
        tok = self.next_non_space()
        t = tok.typ
        if t == Item.BLOCK:
            return self.block_control()
        if t == Item.BREAK:
            return self.break_control()
        if t == Item.CONTINUE:
            return self.continue_control()
        if t == Item.ELSE:
            return self.else_control()
        if t == Item.END:
            return self.end_control()
        if t == Item.IF:
            return IfNode(*self.parse_control("if"))
        if t == Item.RANGE:
            return RangeNode(*self.parse_control("range"))
        if t == Item.TEMPLATE:
            return self.template_control()
        if t == Item.WITH:
            return WithNode(*self.parse_control("with"))
        self.backup()
        return ActionNode(self.pipeline("command", Item.RIGHT_DELIM))

    def break_control(self) -> Node:
        tok = self.next_non_space()
        if tok.typ != Item.RIGHT_DELIM:
            self.unexpected(tok, "{{break}}")
        if self.range_depth == 0:
            self.errorf("{{break}} outside {{range}}")
        return BreakNode()

    def continue_control(self) -> Node:
        tok = self.next_non_space()
        if tok.typ != Item.RIGHT_DELIM:
            self.unexpected(tok, "{{continue}}")
        if self.range_depth == 0:
            self.errorf("{{continue}} outside {{range}}")
        return ContinueNode()

    def pipeline(self, context: str, end: Item) -> PipeNode:
        pipe = PipeNode()
        self.peek_non_space()
        while True:  # the "decls:" label
            v = self.peek_non_space()
            if v.typ != Item.VARIABLE:
                break
            self.next()
            token_after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (Item.ASSIGN, Item.DECLARE):
                pipe.is_assign = nxt.typ == Item.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.val.split(".")))
                self.vars.append(v.val)
                break
            if nxt.typ == Item.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.val.split(".")))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (Item.VARIABLE, Item.RIGHT_DELIM, Item.RIGHT_PAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            if token_after.typ == Item.SPACE:
                self.backup3(v, token_after)
            else:
                self.backup2(v)
            break
        while True:
            tok = self.next_non_space()
            if tok.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if tok.typ in (
                Item.BOOL,
                Item.CHAR_CONSTANT,
                Item.COMPLEX,
                Item.DOT,
                Item.FIELD,
                Item.IDENTIFIER,
                Item.NUMBER,
                Item.NIL,
                Item.RAW_STRING,
                Item.STRING,
                Item.VARIABLE,
                Item.LEFT_PAREN,
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(tok, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def parse_control(self, context: str) -> tuple[PipeNode, ListNode, ListNode | None]:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, Item.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, ElseNode):
                if context == "if" and self.peek().typ == Item.IF:
                    self.next()
                    else_list = ListNode()
                    else_list.nodes.append(IfNode(*self.parse_control("if")))
                elif context == "with" and self.peek().typ == Item.WITH:
                    self.next()
                    else_list = ListNode()
                    else_list.nodes.append(WithNode(*self.parse_control("with")))
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, EndNode):
                        self.errorf("expected end; found else")
            return pipe, lst, else_list
        finally:
            del self.vars[mark:]

    def end_control(self) -> Node:
        self.expect(Item.RIGHT_DELIM, "end")
        return EndNode()

    def else_control(self) -> Node:
        peek = self.peek_non_space()
        if peek.typ in (Item.IF, Item.WITH):
            return ElseNode()
        self.expect(Item.RIGHT_DELIM, "else")
        return ElseNode()

    def block_control(self) -> Node:
        context = "block clause"
        tok = self.next_non_space()
        name = self.parse_template_name(tok, context)
        pipe = self.pipeline(context, Item.RIGHT_DELIM)
        block = _Tree(name, self.lex, self.tree_set)
        block.root, end = block.item_list()
        if not isinstance(end, EndNode):
            self.errorf(f"unexpected else in {context}")
        block.add()
        return TemplateNode(name, pipe)

    def template_control(self) -> Node:
        context = "template clause"
        tok = self.next_non_space()
        name = self.parse_template_name(tok, context)
        pipe = None
        if self.next_non_space().typ != Item.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, Item.RIGHT_DELIM)
        return TemplateNode(name, pipe)

    def parse_template_name(self, tok: Token, context: str) -> str:
        if tok.typ in (Item.STRING, Item.RAW_STRING):
            return unquote(tok.val)
        self.unexpected(tok, context)
        raise AssertionError

    def command(self) -> CommandNode:
        cmd = CommandNode()
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.typ == Item.SPACE:
                continue
            if tok.typ in (Item.RIGHT_DELIM, Item.RIGHT_PAREN):
                self.backup()
            elif tok.typ == Item.PIPE:
                pass
            else:
                self.unexpected(tok, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == Item.FIELD:
            fields: list[str] = []
            while self.peek().typ == Item.FIELD:
                fields.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(node.ident + fields)
            if isinstance(node, VariableNode):
                return VariableNode(node.ident + fields)
            if isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
                self.errorf("unexpected . after term")
            chain = ChainNode(node)
            chain.field = fields
            return chain
        return node

    def term(self) -> Node | None:
        tok = self.next_non_space()
        t = tok.typ
        if t == Item.IDENTIFIER:
            if tok.val not in BUILTIN_FUNCS:
                self.errorf(f"function {tok.val!r} not defined")
            return IdentifierNode(tok.val)
        if t == Item.DOT:
            return DotNode()
        if t == Item.NIL:
            return NilNode()
        if t == Item.VARIABLE:
            return self.use_var(tok.val)
        if t == Item.FIELD:
            return FieldNode(tok.val[1:].split("."))
        if t == Item.BOOL:
            return BoolNode(tok.val == "true")
        if t in (Item.CHAR_CONSTANT, Item.COMPLEX, Item.NUMBER):
            return new_number(tok.val, t)
        if t == Item.LEFT_PAREN:
            if self.stack_depth >= MAX_STACK_DEPTH:
                self.errorf("max expression depth exceeded")
            self.stack_depth += 1
            try:
                return self.pipeline("parenthesized pipeline", Item.RIGHT_PAREN)
            finally:
                self.stack_depth -= 1
        if t in (Item.STRING, Item.RAW_STRING):
            return StringNode(tok.val, unquote(tok.val))
        self.backup()
        return None

    def use_var(self, name: str) -> Node:
        v = VariableNode(name.split("."))
        if v.ident[0] in self.vars:
            return v
        self.errorf(f"undefined variable {v.ident[0]!r}")
        raise AssertionError


def parse_templates(name: str, source: str) -> dict[str, ListNode]:
    """Parse ``source`` as ``template.New(name).Parse(source)`` does; returns name -> root list."""
    tree_set: dict[str, ListNode] = {}
    lex = Lexer(source)
    t = _Tree(name, lex, tree_set)
    t.parse()
    t.add()
    return tree_set
