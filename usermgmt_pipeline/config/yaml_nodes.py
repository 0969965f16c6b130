"""Strict YAML reading with Go `gopkg.in/yaml.v2` scalar semantics.

PyYAML only *composes* the document here (anchors and aliases resolved, nothing constructed), so we
still know, for every scalar, whether it was quoted and what its source text was. Typing then follows
yaml.v2 (YAML 1.1 flavour, as the Go job reads the same file): `y`/`on`/`yes` are booleans, a quoted
`"true"` or `"30"` is a string, `0x1F` and `1_000` are integers, `1e999` is a string. Duplicate keys are
detected here because PyYAML silently keeps the last one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import yaml

from usermgmt_pipeline.errors import UsermgmtError

_IMPLICIT_PLAIN = "!usermgmt/implicit-plain"
_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
_MAX_INT64 = (1 << 63) - 1
_MAX_UINT64 = (1 << 64) - 1

_SPECIAL_PLAIN: dict[str, tuple[str, Any]] = {}
for _words, _kind, _value in (
    (("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), "bool", True),
    (("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), "bool", False),
    (("", "~", "null", "Null", "NULL"), "null", None),
    ((".nan", ".NaN", ".NAN"), "float", math.nan),
    ((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), "float", math.inf),
    (("-.inf", "-.Inf", "-.INF"), "float", -math.inf),
):
    for _word in _words:
        _SPECIAL_PLAIN[_word] = (_kind, _value)

# yaml.v2 `resolveTable`: only scalars starting with these characters can be anything but a string.
_HINTED_FIRST_CHARS = frozenset("+-0123456789yYnNtTfFoO~.")
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]*)?(Z|[-+][0-9]{1,2}(:[0-9]{2})?))"
    r"|( [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]*)?))?"
)
_DIGITS = {2: frozenset("01"), 8: frozenset("01234567"), 10: frozenset("0123456789")}
_DIGITS[16] = frozenset("0123456789abcdefABCDEF")

# yaml.v2's "excessive aliasing" limits (decode.go, `allowedAliasRatio`): up to 400 000 decoded nodes 99% may
# come through aliases, falling linearly to 10% at 4 000 000; below 100 aliased or 1000 decoded nodes, no limit.
_ALIAS_RATIO_LOW = 400_000
_ALIAS_RATIO_HIGH = 4_000_000


class YamlSyntaxError(UsermgmtError):
    """The text is not a single well-formed YAML document; the message never quotes the source line."""


class _ComposeLoader(yaml.SafeLoader):
    """Composes nodes only; plain scalars get a marker tag so explicit tags (`!!str 30`) stay visible."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _IMPLICIT_PLAIN
        resolved: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return resolved


def compose_document(text: str | bytes) -> yaml.Node | None:
    """The document's node graph, or None for an empty stream. Raises `YamlSyntaxError`."""
    loader: _ComposeLoader | None = None
    try:
        loader = _ComposeLoader(text)  # already reads (and may reject) the first characters
        root = loader.get_single_node()
        if root is not None:
            check_aliasing(root)
        return root
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        details = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise YamlSyntaxError(f"YAML syntax error{where}: {details}") from None
    except yaml.reader.ReaderError as exc:
        raise YamlSyntaxError(f"unreadable YAML text at position {exc.position}: {exc.reason}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"YAML error: {type(exc).__name__}") from None
    except RecursionError:
        raise YamlSyntaxError("the YAML document is nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _allowed_alias_ratio(decoded: int) -> float:
    if decoded <= _ALIAS_RATIO_LOW:
        return 0.99
    if decoded >= _ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)


def alias_counts(root: yaml.Node) -> tuple[int, int]:
    """(decoded, via_alias): the nodes a decoder visits with every alias and merge expanded, and how many of
    them it reaches through an alias. Linear in the document: expanded sizes are memoised per node, so a
    2 KB merge-key bomb of billions of nodes is measured in microseconds instead of being walked.

    PyYAML resolves an alias to the anchored node itself; the first time a node is met in document order is
    its anchor, every later meeting is an alias. Raises `YamlSyntaxError` for an anchor containing itself.
    """
    sizes: dict[int, int] = {}

    def expanded_size(node: yaml.Node, active: set[int]) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YamlSyntaxError(
                f"YAML error at line {node.start_mark.line + 1}: an anchored value contains an alias to itself"
            )
        active.add(key)
        size = 1 + sum(expanded_size(child, active) for child in _children(node))
        active.discard(key)
        sizes[key] = size
        return size

    seen: set[int] = set()
    decoded = via_alias = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            size = expanded_size(node, set())
            decoded += 1 + size  # the alias node, then the aliased value
            via_alias += size
            continue
        seen.add(id(node))
        decoded += 1
        stack.extend(reversed(_children(node)))
    return decoded, via_alias


def check_aliasing(root: yaml.Node) -> None:
    """Refuse what Go's yaml.v2 refuses as "excessive aliasing" (alias and merge-key bombs), before decoding."""
    decoded, via_alias = alias_counts(root)
    if via_alias > 100 and decoded > 1000 and via_alias / decoded > _allowed_alias_ratio(decoded):
        raise YamlSyntaxError(
            f"YAML error: the document contains excessive aliasing (aliases and merge keys expand it to "
            f"{decoded} nodes, {via_alias} of them through aliases); Go's yaml.v2 refuses it too"
        )


@dataclass(frozen=True)
class Scalar:
    """A scalar as yaml.v2 sees it: `kind` is null/bool/int/float/str/timestamp or an unknown tag."""

    kind: str
    value: Any
    text: str

    @property
    def label(self) -> str:
        return yaml_type_label(self.kind)


def yaml_type_label(kind: str) -> str:
    """`!!str`, `!!map` … as Go's yaml.v2 names them in its own type errors."""
    return "!!" + kind if re.fullmatch(r"[a-z]+", kind) else kind


def node_label(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "!!map"
    if isinstance(node, yaml.SequenceNode):
        return "!!seq"
    return resolve_scalar(cast(yaml.ScalarNode, node)).label


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and resolve_scalar(node).kind == "null"


def _go_parse_int(text: str) -> int | None:
    """Go `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint(s, 0, 64)` like yaml.v2."""
    sign = ""
    body = text
    if body[:1] in ("+", "-"):
        sign, body = body[0], body[1:]
    base = 10
    if len(body) >= 2 and body[0] == "0" and body[1] in "xXbBoO":
        base = {"x": 16, "b": 2, "o": 8}[body[1].lower()]
        body = body[2:]
    elif len(body) >= 2 and body[0] == "0":
        base = 8
        body = body[1:]
    if not body or any(char not in _DIGITS[base] for char in body):
        return None
    value = int(body, base)
    if sign == "-":
        value = -value
    if -(1 << 63) <= value <= _MAX_INT64:
        return value
    if sign == "" and value <= _MAX_UINT64:
        return value
    return None


def _finite_float(text: str) -> float | None:
    value = float(text)
    return None if math.isinf(value) else value


def resolve_plain(text: str) -> tuple[str, Any]:
    """yaml.v2 `resolve` for an untagged plain scalar."""
    if not text or text[0] in _HINTED_FIRST_CHARS:
        special = _SPECIAL_PLAIN.get(text)
        if special is not None:
            return special
        if text[0] == ".":
            if _DOT_FLOAT.fullmatch(text) and (value := _finite_float(text)) is not None:
                return "float", value
        elif text[0] in "+-0123456789":
            if _TIMESTAMP.fullmatch(text):
                return "timestamp", text
            plain = text.replace("_", "")
            if plain:
                integer = _go_parse_int(plain)
                if integer is not None:
                    return "int", integer
                if _YAML_STYLE_FLOAT.fullmatch(plain) and (value := _finite_float(plain)) is not None:
                    return "float", value
    return "str", text


_EXPLICIT_PARSERS: dict[str, Callable[[str], tuple[str, Any] | None]] = {
    "str": lambda text: ("str", text),
    "null": lambda text: ("null", None),
    "bool": lambda text: r if (r := resolve_plain(text))[0] == "bool" else None,
    "int": lambda text: r if (r := resolve_plain(text))[0] == "int" else None,
    "float": lambda text: r if (r := resolve_plain(text))[0] in ("int", "float") else None,
}


def resolve_scalar(node: yaml.ScalarNode) -> Scalar:
    text = node.value
    if node.tag == _IMPLICIT_PLAIN:
        kind, value = resolve_plain(text)
        return Scalar(kind, value, text)
    if node.tag.startswith(_YAML_TAG_PREFIX):
        short = node.tag[len(_YAML_TAG_PREFIX) :]
        parser = _EXPLICIT_PARSERS.get(short)
        if parser is not None:
            resolved = parser(text)
            if resolved is not None:
                kind, value = resolved
                if short == "float":
                    value = float(value)
                    kind = "float"
                return Scalar(kind, value, text)
            return Scalar(f"invalid !!{short}", text, text)
        return Scalar(short, text, text)
    return Scalar(node.tag, text, text)


def is_merge_key(node: yaml.Node) -> bool:
    return (
        isinstance(node, yaml.ScalarNode)
        and node.value == "<<"
        and node.tag in (_IMPLICIT_PLAIN, _YAML_TAG_PREFIX + "merge")
    )


@dataclass(frozen=True)
class Entry:
    key: str
    value: yaml.Node


def mapping_entries(
    node: yaml.MappingNode,
    report: Callable[[str | None, str], None] | None,
    _seen_nodes: frozenset[int] = frozenset(),
) -> list[Entry]:
    """The key/value pairs of a mapping with merge keys (`<<`) applied and duplicate keys reported.

    `report(key, message)` receives problems; `key` None means the mapping itself. Explicit keys win over
    merged ones and earlier merge sources win over later ones, as the YAML merge-key spec says. Duplicates
    inside a merge *source* are reported where that source is written, not at every place it is merged.
    """
    explicit: list[Entry] = []
    first_line: dict[str, int] = {}
    merge_sources: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if is_merge_key(key_node):
            if isinstance(value_node, yaml.SequenceNode):
                merge_sources.extend(value_node.value)
            else:
                merge_sources.append(value_node)
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            if report is not None:
                report(None, f"mapping keys must be strings, got {node_label(key_node)}")
            continue
        key = key_node.value
        line = key_node.start_mark.line + 1
        if key in first_line:
            if report is not None:
                report(key, f"duplicate key (first given on line {first_line[key]})")
            continue
        first_line[key] = line
        explicit.append(Entry(key, value_node))

    entries = list(explicit)
    seen_keys = set(first_line)
    nested_seen = _seen_nodes | {id(node)}
    for source in merge_sources:
        if not isinstance(source, yaml.MappingNode):
            if report is not None:
                report("<<", f"a merge key needs a mapping or a list of mappings, got {node_label(source)}")
            continue
        if id(source) in nested_seen:
            if report is not None:
                report("<<", "a merge key refers to the mapping that contains it")
            continue
        for entry in mapping_entries(source, None, nested_seen):
            if entry.key not in seen_keys:
                seen_keys.add(entry.key)
                entries.append(entry)
    return entries
