"""Execution of escaped parse trees (port of Go's ``text/template/exec.go`` and ``funcs.go``)
for a ``map[string]string`` as dot.

Go values are modelled as: ``str``, ``bool``, ``int``, ``float``, the data ``Mapping`` and ``None``
for Go's invalid/nil value (e.g. a missing map key reached via ``.field``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from usermgmt_pipeline.errors import UsermgmtError

from .errors import GoTemplateError
from .escapers import ESCAPERS
from .gofmt import Value, sprint, sprint_one, sprintf, sprintln, type_name
from .nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    DotNode,
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
)

MAX_TEMPLATE_DEPTH = 150


@dataclass(frozen=True)
class RenderLimits:
    """Bounds on one execution, so a template that grows without bound fails instead of hanging.

    Go has no such bounds: nested `define`s that call each other twice render 2^n copies, and a variable
    doubled by `printf` in a `range` grows as fast. The limits only ever turn a render into an error; below
    them the executor does exactly what it did before, so output is unchanged. `max_output_bytes` bounds
    the email and every intermediate string a function returns; `max_seconds` is wall-clock time of the
    execution, checked every `_CLOCK_EVERY` nodes (a node does bounded work, so overshoot is small).
    """

    max_output_bytes: int = 8 * 1024 * 1024
    max_seconds: float = 10.0


DEFAULT_LIMITS = RenderLimits()
_CLOCK_EVERY = 256


class _Missing:
    __slots__ = ()


MISSING = _Missing()
# The value piped into a command as its last argument, or MISSING when nothing is piped (Go's ``missingVal``).
Piped = Value | _Missing


class ExecError(GoTemplateError):
    def __init__(self, detail: str) -> None:
        super().__init__("execution error", detail)


class RenderLimitError(GoTemplateError):
    def __init__(self, detail: str) -> None:
        super().__init__("render limit exceeded", detail)


@dataclass(slots=True)
class _Variable:
    """Go's ``variable``: a name bound in scope; ``range`` rebinds the value on every iteration."""

    name: str
    value: Value


class _Break(UsermgmtError):
    pass


class _Continue(UsermgmtError):
    pass


def is_true(v: Value) -> bool:
    if v is None:
        return False
    if isinstance(v, str):
        return len(v) > 0
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, Mapping):
        return len(v) > 0
    raise GoTemplateError("unsupported value", repr(type(v)))


# ---------------------------------------------------------------------------------------------
# builtins (funcs.go)
# ---------------------------------------------------------------------------------------------
def _basic_kind(v: Value) -> str | None:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return None


def _eq(arg1: Value, *arg2: Value) -> bool:
    if not arg2:
        raise ExecError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in arg2:
        k2 = _basic_kind(arg)
        if k1 != k2:
            if arg1 is not None and arg is not None:
                raise ExecError("incompatible types for comparison")
            truth = False
        elif k1 is not None:
            truth = arg1 == arg
        else:
            if arg1 is None or arg is None:
                truth = (arg1 is None) == (arg is None)
            else:
                raise ExecError("non-comparable type map[string]string")
        if truth:
            return True
    return False


def _ne(a: Value, b: Value) -> bool:
    return not _eq(a, b)


def _lt(a: Value, b: Value) -> bool:
    k1 = _basic_kind(a)
    k2 = _basic_kind(b)
    if k1 is None or k2 is None:
        raise ExecError("invalid type for comparison")
    if k1 != k2:
        raise ExecError("incompatible types for comparison")
    if k1 == "bool":
        raise ExecError("invalid type for comparison")
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a < b
    raise ExecError("invalid type for comparison")


def _le(a: Value, b: Value) -> bool:
    return _lt(a, b) or _eq(a, b)


def _gt(a: Value, b: Value) -> bool:
    return not _le(a, b)


def _ge(a: Value, b: Value) -> bool:
    return not _lt(a, b)


def _not(a: Value) -> bool:
    return not is_true(a)


def _len(item: Value) -> int:
    if isinstance(item, str):
        return len(item.encode("utf-8"))
    if isinstance(item, Mapping):
        return len(item)
    raise ExecError("len of non-string, non-map value")


def _index_arg(index: Value, cap: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int):
        raise ExecError("cannot index slice/array with non-integer")
    if index < 0 or index > cap:
        raise ExecError(f"index out of range: {index}")
    return index


def _index(item: Value, *indexes: Value) -> Value:
    if item is None:
        raise ExecError("index of untyped nil")
    for index in indexes:
        if isinstance(item, Mapping):
            if not isinstance(index, str):
                raise ExecError("map index has wrong type")
            item = item.get(index, "")
        elif isinstance(item, str):
            raise GoTemplateError("unsupported construct", "indexing a string (yields a byte)")
        else:
            raise ExecError(f"can't index item of type {type_name(item)}")
    return item


def _slice(item: Value, *indexes: Value) -> Value:
    if item is None:
        raise ExecError("slice of untyped nil")
    if len(indexes) > 3:
        raise ExecError("too many slice indexes")
    if not isinstance(item, str):
        raise ExecError(f"can't slice item of type {type_name(item)}")
    if len(indexes) == 3:
        raise ExecError("cannot 3-index slice a string")
    b = item.encode("utf-8")
    idx = [0, len(b)]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, len(b))
    if idx[0] > idx[1]:
        raise ExecError("invalid slice index")
    try:
        return b[idx[0] : idx[1]].decode("utf-8")
    except UnicodeDecodeError:
        raise GoTemplateError("unsupported construct", "slice splits a UTF-8 sequence") from None


def _call(*args: Value) -> Value:
    raise ExecError("call of a non-function")


# Signature: (fixed parameter kinds, variadic parameter kind or None). Kinds: "value" (reflect.Value
# or interface{}; anything goes, nil allowed) and "string".
_Sig = tuple[tuple[str, ...], str | None]
_BUILTINS: dict[str, tuple[_Sig, Callable[..., Value]]] = {
    "and": ((("value",), "value"), lambda *a: None),
    "or": ((("value",), "value"), lambda *a: None),
    "not": ((("value",), None), _not),
    "eq": ((("value",), "value"), _eq),
    "ne": ((("value", "value"), None), _ne),
    "lt": ((("value", "value"), None), _lt),
    "le": ((("value", "value"), None), _le),
    "gt": ((("value", "value"), None), _gt),
    "ge": ((("value", "value"), None), _ge),
    "len": ((("value",), None), _len),
    "index": ((("value",), "value"), _index),
    "slice": ((("value",), "value"), _slice),
    "call": ((("value",), "value"), _call),
    "print": (((), "value"), lambda *a: sprint(list(a))),
    "println": (((), "value"), lambda *a: sprintln(list(a))),
    "printf": ((("string",), "value"), lambda f, *a: sprintf(f, list(a))),
}
for _name, _fn in ESCAPERS.items():
    _BUILTINS[_name] = (((), "value"), (lambda fn: lambda *a: fn(list(a)))(_fn))


def _check_type(v: Value, kind: str) -> Value:
    """validateType for our two parameter kinds."""
    if kind == "string":
        if v is None:
            raise ExecError("invalid value; expected string")
        if not isinstance(v, str):
            raise ExecError(f"wrong type for value; expected string; got {type_name(v)}")
    return v


# ---------------------------------------------------------------------------------------------
# state
# ---------------------------------------------------------------------------------------------
class Executor:
    def __init__(self, templates: dict[str, ListNode], limits: RenderLimits = DEFAULT_LIMITS) -> None:
        self.templates = templates
        self.out: list[bytes] = []
        self.vars: list[_Variable] = []
        self.depth = 0
        self.limits = limits
        self.out_bytes = 0
        self.steps = 0
        self.deadline = 0.0

    def execute(self, name: str, data: Mapping[str, str]) -> str:
        self.vars = [_Variable("$", data)]
        root = self.templates.get(name)
        if root is None:
            raise ExecError(f"{name!r} is an incomplete or empty template")
        self.deadline = time.monotonic() + self.limits.max_seconds
        self.walk(data, root)
        return b"".join(self.out).decode("utf-8")

    # limits ------------------------------------------------------------------------------------
    def emit(self, chunk: bytes) -> None:
        self.out_bytes += len(chunk)
        if self.out_bytes > self.limits.max_output_bytes:
            raise RenderLimitError(
                f"output exceeds {self.limits.max_output_bytes} bytes (a template that grows without bound?)"
            )
        self.out.append(chunk)

    def tick(self) -> None:
        self.steps += 1
        if self.steps % _CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
            raise RenderLimitError(
                f"rendering took longer than {self.limits.max_seconds:g} s "
                "(a template that grows without bound?)"
            )

    def bounded(self, value: Value) -> Value:
        if isinstance(value, str) and len(value) > self.limits.max_output_bytes:
            raise RenderLimitError(
                f"a value grew beyond {self.limits.max_output_bytes} bytes (a template that grows without bound?)"
            )
        return value

    # variables ---------------------------------------------------------------------------------
    def set_var(self, name: str, value: Value) -> None:
        for v in reversed(self.vars):
            if v.name == name:
                v.value = value
                return
        raise ExecError(f"undefined variable: {name}")

    def var_value(self, name: str) -> Value:
        for v in reversed(self.vars):
            if v.name == name:
                return v.value
        raise ExecError(f"undefined variable: {name}")

    # walking -----------------------------------------------------------------------------------
    def walk(self, dot: Value, node: Node) -> None:
        self.tick()
        if isinstance(node, TextNode):
            self.emit(node.text)
        elif isinstance(node, ActionNode):
            val = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.emit(("<no value>" if val is None else sprint_one(val)).encode("utf-8"))
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, IfNode):
            self.walk_if_or_with(False, dot, node)
        elif isinstance(node, WithNode):
            self.walk_if_or_with(True, dot, node)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue
        elif isinstance(node, CommentNode):
            pass
        else:
            raise ExecError(f"unknown node {type(node).__name__}")

    def walk_if_or_with(self, is_with: bool, dot: Value, node: IfNode | WithNode) -> None:
        mark = len(self.vars)
        try:
            val = self.eval_pipeline(dot, node.pipe)
            if is_true(val):
                self.walk(val if is_with else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Value, r: RangeNode) -> None:
        mark0 = len(self.vars)
        try:
            val = self.eval_pipeline(dot, r.pipe)
            mark = len(self.vars)

            def one_iteration(index: Value, elem: Value) -> None:
                decl = r.pipe.decl
                if decl:
                    if r.pipe.is_assign:
                        self.set_var(decl[0].ident[0], index if len(decl) > 1 else elem)
                    else:
                        self.vars[-1].value = elem
                if len(decl) > 1:
                    if r.pipe.is_assign:
                        self.set_var(decl[1].ident[0], elem)
                    else:
                        self.vars[-2].value = index
                try:
                    self.walk(elem, r.list)
                except _Continue:
                    pass
                finally:
                    del self.vars[mark:]

            ran = False
            if isinstance(val, (bool, str, float)):
                raise ExecError(f"range can't iterate over {sprint_one(val)}")
            if isinstance(val, int):
                if len(r.pipe.decl) > 1:
                    raise ExecError(f"can't use {val} to iterate over more than one variable")
                for i in range(val):
                    ran = True
                    one_iteration(None, i)
            elif isinstance(val, Mapping):
                for k in sorted(val):
                    ran = True
                    one_iteration(k, val[k])
            elif val is not None:
                raise ExecError("range can't iterate over value")
            if not ran and r.else_list is not None:
                self.walk(dot, r.else_list)
        except _Break:
            pass
        finally:
            del self.vars[mark0:]

    def walk_template(self, dot: Value, t: TemplateNode) -> None:
        root = self.templates.get(t.name)
        if root is None:
            raise ExecError(f"template {t.name!r} not defined")
        if self.depth >= MAX_TEMPLATE_DEPTH:
            raise GoTemplateError("unsupported construct", "template recursion deeper than this port allows")
        dot = self.eval_pipeline(dot, t.pipe)
        saved = self.vars
        self.vars = [_Variable("$", dot)]
        self.depth += 1
        try:
            self.walk(dot, root)
        finally:
            self.depth -= 1
            self.vars = saved

    # evaluation --------------------------------------------------------------------------------
    def eval_pipeline(self, dot: Value, pipe: PipeNode | None) -> Value:
        if pipe is None:
            return None
        value: Piped = MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        if isinstance(value, _Missing):
            raise ExecError("missing value for pipeline")  # the parser rejects an empty pipeline first
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.vars.append(_Variable(var.ident[0], value))
        return value

    @staticmethod
    def not_a_function(args: list[Node], final: Piped) -> None:
        if len(args) > 1 or not isinstance(final, _Missing):
            raise ExecError("can't give argument to non-function")

    def eval_command(self, dot: Value, cmd: CommandNode, final: Piped) -> Value:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_field_chain(dot, dot, first.ident, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first.ident, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise ExecError("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        raise ExecError("can't evaluate command")

    @staticmethod
    def ideal_constant(n: NumberNode) -> Value:
        text = n.text
        is_hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
        is_rune = text.startswith("'")
        if n.is_float and not is_hex_int and not is_rune and any(c in text for c in ".eEpP"):
            return n.float64
        if n.is_int:
            return n.int64
        if n.is_uint:
            raise ExecError(f"{text} overflows int")
        return None

    def eval_chain_node(self, dot: Value, chain: ChainNode, args: list[Node], final: Piped) -> Value:
        if isinstance(chain.node, NilNode):
            raise ExecError("indirection through explicit nil")
        pipe = self.eval_arg(dot, "value", chain.node)
        return self.eval_field_chain(dot, pipe, chain.field, args, final)

    def eval_variable_node(self, dot: Value, var: VariableNode, args: list[Node], final: Piped) -> Value:
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var.ident[1:], args, final)

    def eval_field_chain(
        self, dot: Value, receiver: Value, ident: list[str], args: list[Node] | None, final: Piped
    ) -> Value:
        for name in ident[:-1]:
            receiver = self.eval_field(name, None, MISSING, receiver)
        return self.eval_field(ident[-1], args, final, receiver)

    @staticmethod
    def eval_field(name: str, args: list[Node] | None, final: Piped, receiver: Value) -> Value:
        if receiver is None:
            return None
        if isinstance(receiver, Mapping):
            if (args is not None and len(args) > 1) or not isinstance(final, _Missing):
                raise ExecError(f"{name} is not a method but has arguments")
            return receiver.get(name)  # missing key -> invalid value (Go's default "missingkey")
        raise ExecError(f"can't evaluate field {name} in type {type_name(receiver)}")

    def eval_function(self, dot: Value, name: str, args: list[Node] | None, final: Piped) -> Value:
        entry = _BUILTINS.get(name)
        if entry is None:
            raise ExecError(f"{name!r} is not a defined function")
        (fixed, variadic), fn = entry
        arg_nodes = args[1:] if args is not None else []
        num_in = len(arg_nodes) + (0 if isinstance(final, _Missing) else 1)
        if variadic is not None:
            if num_in < len(fixed):
                raise ExecError(f"wrong number of args for {name}")
        elif num_in != len(fixed):
            raise ExecError(f"wrong number of args for {name}")

        def param_kind(i: int) -> str:
            if i < len(fixed):
                return fixed[i]
            assert variadic is not None  # the arity check above lets only a variadic function take more
            return variadic

        if name in ("and", "or"):
            v: Value = None
            for a in arg_nodes:
                v = self.eval_arg(dot, "value", a)
                if is_true(v) == (name == "or"):
                    return v
            if not isinstance(final, _Missing):
                v = final
            return v
        argv = [self.eval_arg(dot, param_kind(i), a) for i, a in enumerate(arg_nodes)]
        if not isinstance(final, _Missing):
            argv.append(_check_type(final, param_kind(num_in - 1)))
        return self.bounded(fn(*argv))

    def eval_arg(self, dot: Value, kind: str, n: Node) -> Value:
        if isinstance(n, DotNode):
            return _check_type(dot, kind)
        if isinstance(n, NilNode):
            if kind == "string":
                raise ExecError("cannot assign nil to string")
            return None
        if isinstance(n, FieldNode):
            return _check_type(self.eval_field_chain(dot, dot, n.ident, [n], MISSING), kind)
        if isinstance(n, VariableNode):
            return _check_type(self.eval_variable_node(dot, n, [], MISSING), kind)
        if isinstance(n, PipeNode):
            return _check_type(self.eval_pipeline(dot, n), kind)
        if isinstance(n, IdentifierNode):
            return _check_type(self.eval_function(dot, n.ident, None, MISSING), kind)
        if isinstance(n, ChainNode):
            return _check_type(self.eval_chain_node(dot, n, [], MISSING), kind)
        if kind == "string":
            if isinstance(n, StringNode):
                return n.text
            raise ExecError("expected string")
        if isinstance(n, BoolNode):
            return n.value
        if isinstance(n, NumberNode):
            return self.ideal_constant(n)
        if isinstance(n, StringNode):
            return n.text
        raise ExecError("can't handle argument")
