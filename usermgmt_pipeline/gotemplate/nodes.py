"""Parse-tree nodes mirroring Go's ``text/template/parse/node.go`` (only what execution needs)."""

from __future__ import annotations

import copy
from typing import Self


class Node:
    __slots__ = ()

    def copy(self) -> Self:
        return copy.deepcopy(self)


class ListNode(Node):
    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes: list[Node] = []


class TextNode(Node):
    """Text between actions; ``text`` is UTF-8 bytes because html/template edits it byte-wise."""

    __slots__ = ("text",)

    def __init__(self, text: bytes) -> None:
        self.text = text


class CommentNode(Node):
    __slots__ = ()


class BreakNode(Node):
    __slots__ = ()


class ContinueNode(Node):
    __slots__ = ()


class IdentifierNode(Node):
    __slots__ = ("ident",)

    def __init__(self, ident: str) -> None:
        self.ident = ident


class VariableNode(Node):
    __slots__ = ("ident",)

    def __init__(self, ident: list[str]) -> None:
        self.ident = ident


class FieldNode(Node):
    __slots__ = ("ident",)

    def __init__(self, ident: list[str]) -> None:
        self.ident = ident


class ChainNode(Node):
    __slots__ = ("field", "node")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.field: list[str] = []


class DotNode(Node):
    __slots__ = ()


class NilNode(Node):
    __slots__ = ()


class BoolNode(Node):
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value


class StringNode(Node):
    __slots__ = ("quoted", "text")

    def __init__(self, quoted: str, text: str) -> None:
        self.quoted = quoted
        self.text = text


class NumberNode(Node):
    __slots__ = ("float64", "int64", "is_float", "is_int", "is_uint", "text", "uint64")

    def __init__(self, text: str) -> None:
        self.text = text
        self.is_int = False
        self.is_uint = False
        self.is_float = False
        self.int64 = 0
        self.uint64 = 0
        self.float64 = 0.0


class CommandNode(Node):
    __slots__ = ("args",)

    def __init__(self) -> None:
        self.args: list[Node] = []


class PipeNode(Node):
    __slots__ = ("cmds", "decl", "is_assign")

    def __init__(self) -> None:
        self.is_assign = False
        self.decl: list[VariableNode] = []
        self.cmds: list[CommandNode] = []


class ActionNode(Node):
    __slots__ = ("pipe",)

    def __init__(self, pipe: PipeNode) -> None:
        self.pipe = pipe


class BranchNode(Node):
    __slots__ = ("else_list", "list", "pipe")

    def __init__(self, pipe: PipeNode, lst: ListNode, else_list: ListNode | None) -> None:
        self.pipe = pipe
        self.list = lst
        self.else_list = else_list


class IfNode(BranchNode):
    __slots__ = ()


class RangeNode(BranchNode):
    __slots__ = ()


class WithNode(BranchNode):
    __slots__ = ()


class TemplateNode(Node):
    __slots__ = ("name", "pipe")

    def __init__(self, name: str, pipe: PipeNode | None) -> None:
        self.name = name
        self.pipe = pipe


class EndNode(Node):
    __slots__ = ()


class ElseNode(Node):
    __slots__ = ()


def is_empty_tree(n: Node | None) -> bool:
    """Go's ``parse.IsEmptyTree``."""
    if n is None or isinstance(n, CommentNode):
        return True
    if isinstance(n, ListNode):
        return all(is_empty_tree(m) for m in n.nodes)
    if isinstance(n, TextNode):
        return (
            len(n.text.strip(b" \t\n\v\f\r\x85\xa0")) == 0 if _ascii_only(n.text) else _unicode_blank(n.text)
        )
    return False


def _ascii_only(b: bytes) -> bool:
    return b.isascii()


def _unicode_blank(b: bytes) -> bool:
    # bytes.TrimSpace trims Unicode white space (unicode.IsSpace) on UTF-8 text.
    return b.decode("utf-8").strip(_GO_SPACE) == ""


_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
