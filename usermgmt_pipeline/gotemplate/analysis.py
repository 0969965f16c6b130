"""Static questions about a template's parse trees, asked before rendering it for real.

The email pre-flight renders a translation once per language that can select it. For the default
translation that set is open (any language without its own translation falls back to it), so the
pre-flight needs to know whether rendering under one language proves the render under all of them:
it does when execution cannot observe the value of ``language`` at all (`reads_data_key`). When it can,
the pre-flight renders under representative values, among them the template's own string literals
(`string_literals`), which are what an ``eq .language "fr"`` branch compares against.
"""

from __future__ import annotations

from collections.abc import Iterator

from .errors import GoTemplateError
from .nodes import (
    ActionNode,
    BranchNode,
    ChainNode,
    CommandNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    Node,
    PipeNode,
    StringNode,
    TemplateNode,
    VariableNode,
)
from .parser import parse_templates


def reads_data_key(source: str, key: str) -> bool:
    """Whether executing ``source`` may observe the value of data key ``key`` (conservatively: may).

    The data map is reachable only through dot and ``$`` (and variables assigned from them). A use is
    harmless only when it names another key: a field chain ``.x`` / ``$.x`` without ``key``, or
    ``index . "x"`` with a literal other than ``key``; ``{{template "t" .}}`` hands dot on, and the
    callee is checked by the same rules because every template of the set is. Any other use of dot or
    ``$`` (printed, compared, tested, ranged over, passed to a function or bound to a variable; also dot
    rebound by ``with``/``range``, which this check does not tell apart) counts as reading ``key``. A source that does not parse counts as
    reading it too: rendering it fails under every value anyway.
    """
    try:
        trees = parse_templates("analysis", source)
    except GoTemplateError:
        return True
    return any(_reads(tree, key) for tree in trees.values())


def string_literals(source: str) -> set[str]:
    """Every quoted string constant in ``source``'s actions (empty set when it does not parse)."""
    try:
        trees = parse_templates("analysis", source)
    except GoTemplateError:
        return set()
    return {n.text for tree in trees.values() for n in _walk(tree) if isinstance(n, StringNode)}


def _reads(tree: ListNode, key: str) -> bool:
    for node in _walk(tree):
        if isinstance(node, FieldNode) and key in node.ident:
            return True
        if isinstance(node, ChainNode) and key in node.field:
            return True
        if isinstance(node, VariableNode) and key in node.ident[1:]:
            return True
        if isinstance(node, StringNode) and node.text == key:
            return True
        if isinstance(node, CommandNode) and _wholesale_use(node):
            return True
    return False


def _is_bare_data(node: Node) -> bool:
    """Dot or a bare ``$``: a value that may be the whole data map.

    A variable such as ``$x`` can only hold the map if it was bound from dot or ``$`` as a whole, and
    that binding is itself a wholesale use, so ``$x`` need not count.
    """
    return isinstance(node, DotNode) or (isinstance(node, VariableNode) and node.ident == ["$"])


def _wholesale_use(cmd: CommandNode) -> bool:
    """A command that hands dot or ``$`` to anything but ``index <it> "<literal>"``."""
    args = cmd.args
    if not any(_is_bare_data(a) for a in args):
        return False
    # `index . "x"`: the literal is checked against the key on its own (StringNode rule).
    return not (
        len(args) >= 3
        and isinstance(args[0], IdentifierNode)
        and args[0].ident == "index"
        and _is_bare_data(args[1])
        and isinstance(args[2], StringNode)
        and not any(_is_bare_data(a) for a in args[2:])
    )


def _walk(node: Node | None) -> Iterator[Node]:
    """Every node below ``node``, template calls' pipes included; a call whose only argument is dot is
    reported as a plain template call (dot handed on is checked in the callee)."""
    if node is None:
        return
    yield node
    if isinstance(node, ListNode):
        for child in node.nodes:
            yield from _walk(child)
    elif isinstance(node, ActionNode):
        yield from _walk(node.pipe)
    elif isinstance(node, BranchNode):
        yield from _walk(node.pipe)
        yield from _walk(node.list)
        yield from _walk(node.else_list)
    elif isinstance(node, TemplateNode):
        if node.pipe is not None and not (
            len(node.pipe.cmds) == 1
            and len(node.pipe.cmds[0].args) == 1
            and isinstance(node.pipe.cmds[0].args[0], DotNode)
            and not node.pipe.decl
        ):
            yield from _walk(node.pipe)
    elif isinstance(node, PipeNode):
        yield from node.decl
        for cmd in node.cmds:
            yield from _walk(cmd)
    elif isinstance(node, CommandNode):
        for arg in node.args:
            yield from _walk(arg)
    elif isinstance(node, ChainNode):
        yield from _walk(node.node)
