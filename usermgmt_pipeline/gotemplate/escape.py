"""html/template's contextual escaping pass (port of Go's ``escape.go``).

It walks the parse trees once per source, computes the HTML/JS/CSS/URL context of every action,
records which escaping functions each pipeline needs, strips HTML comments from text, and derives
per-context copies of templates called from several contexts -- exactly like Go, including the
quirks (edits are collected first and committed at the end).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .context import (
    ATTR_START_STATES,
    Attr,
    Context,
    Delim,
    JsCtx,
    State,
    UrlPart,
    context_after_text,
    error_context,
    is_comment,
    is_in_script_literal,
)
from .errors import GoTemplateError
from .nodes import (
    ActionNode,
    BranchNode,
    BreakNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    IdentifierNode,
    IfNode,
    ListNode,
    Node,
    PipeNode,
    RangeNode,
    TemplateNode,
    TextNode,
    WithNode,
)

PREDEFINED_ESCAPERS = frozenset({"html", "urlquery"})
_EQUIV_ESCAPERS = {
    "_html_template_attrescaper": "html",
    "_html_template_htmlescaper": "html",
    "_html_template_rcdataescaper": "html",
    "_html_template_urlescaper": "urlquery",
    "_html_template_urlnormalizer": "urlquery",
}
_REDUNDANT = {
    "_html_template_commentescaper": {"_html_template_attrescaper", "_html_template_htmlescaper"},
    "_html_template_cssescaper": {"_html_template_attrescaper"},
    "_html_template_jsregexpescaper": {"_html_template_attrescaper"},
    "_html_template_jsstrescaper": {"_html_template_attrescaper"},
    "_html_template_jstmpllitescaper": {"_html_template_attrescaper"},
    "_html_template_urlescaper": {"_html_template_urlnormalizer"},
}


class EscapeFailure(GoTemplateError):
    def __init__(self, detail: str) -> None:
        super().__init__("html/template escaping error", detail)


def _norm(e: str) -> str:
    return _EQUIV_ESCAPERS.get(e) or e


def _append_cmd(cmds: list[CommandNode], cmd: CommandNode) -> list[CommandNode]:
    if cmds:
        last = cmds[-1].args[0]
        nxt = cmd.args[0]
        if (
            isinstance(last, IdentifierNode)
            and isinstance(nxt, IdentifierNode)
            and nxt.ident in _REDUNDANT.get(last.ident, ())
        ):
            return cmds
    return [*cmds, cmd]


def _ident_cmd(name: str) -> CommandNode:
    c = CommandNode()
    c.args = [IdentifierNode(name)]
    return c


def ensure_pipeline_contains(p: PipeNode, s: list[str]) -> None:
    if not s:
        return
    s = list(s)
    pipeline_len = len(p.cmds)
    if pipeline_len > 0:
        last_cmd = p.cmds[-1]
        id_node = last_cmd.args[0]
        if isinstance(id_node, IdentifierNode):
            esc = id_node.ident
            if esc in PREDEFINED_ESCAPERS:
                if len(p.cmds) == 1 and len(last_cmd.args) > 1:
                    last_cmd.args[0] = IdentifierNode("_eval_args_")
                    p.cmds = _append_cmd(p.cmds, _ident_cmd(esc))
                    pipeline_len += 1
                dup = False
                for i, escaper in enumerate(s):
                    if _norm(esc) == _norm(escaper):
                        s[i] = id_node.ident
                        dup = True
                if dup:
                    pipeline_len -= 1
    new_cmds = list(p.cmds[:pipeline_len])
    inserted = set()
    for cmd in new_cmds:
        if isinstance(cmd.args[0], IdentifierNode):
            inserted.add(_norm(cmd.args[0].ident))
    for name in s:
        if _norm(name) not in inserted:
            new_cmds = _append_cmd(new_cmds, _ident_cmd(name))
    p.cmds = new_cmds


def nudge(c: Context) -> Context:
    if c.state == State.TAG:
        return c.with_(state=State.ATTR_NAME)
    if c.state == State.BEFORE_VALUE:
        return c.with_(state=ATTR_START_STATES[c.attr], delim=Delim.SPACE_OR_TAG_END, attr=Attr.NONE)
    if c.state == State.AFTER_NAME:
        return c.with_(state=State.ATTR_NAME, attr=Attr.NONE)
    return c


def join(a: Context, b: Context, node_name: str) -> Context:
    if a.state == State.ERROR:
        return a
    if b.state == State.ERROR:
        return b
    if a.state == State.DEAD:
        return b
    if b.state == State.DEAD:
        return a
    if a.eq(b):
        return a
    c = a.with_(url_part=b.url_part)
    if c.eq(b):
        return c.with_(url_part=UrlPart.UNKNOWN)
    c = a.with_(js_ctx=b.js_ctx)
    if c.eq(b):
        return c.with_(js_ctx=JsCtx.UNKNOWN)
    c, d = nudge(a), nudge(b)
    if not (c.eq(a) and d.eq(b)):
        e = join(c, d, node_name)
        if e.state != State.ERROR:
            return e
    return error_context(f"{{{{{node_name}}}}} branches end in different contexts: {a}, {b}")


class _RangeContext:
    __slots__ = ("breaks", "continues", "outer")

    def __init__(self, outer: _RangeContext | None) -> None:
        self.outer = outer
        self.breaks: list[Context] = []
        self.continues: list[Context] = []


_SPECIAL_SCRIPT_TAG = re.compile(rb"(?i)<(script|/script|!--)")


class Escaper:
    def __init__(self, ns: dict[str, ListNode]) -> None:
        self.ns = ns  # committed templates (parsed + derived after commit)
        self.output: dict[str, Context] = {}
        self.derived: dict[str, ListNode] = {}
        self.called: set[str] = set()
        self.action_edits: dict[ActionNode, list[str]] = {}
        self.template_edits: dict[TemplateNode, str] = {}
        self.text_edits: dict[TextNode, bytes] = {}
        self.range_context: _RangeContext | None = None

    # dispatch ----------------------------------------------------------------------------------
    def escape(self, c: Context, n: Node) -> Context:
        if isinstance(n, ActionNode):
            return self.escape_action(c, n)
        if isinstance(n, BreakNode):
            assert self.range_context is not None
            self.range_context.breaks.append(c.with_(n=n))
            return Context(state=State.DEAD)
        if isinstance(n, CommentNode):
            return c
        if isinstance(n, ContinueNode):
            assert self.range_context is not None
            self.range_context.continues.append(c.with_(n=n))
            return Context(state=State.DEAD)
        if isinstance(n, IfNode):
            return self.escape_branch(c, n, "if")
        if isinstance(n, ListNode):
            return self.escape_list(c, n)
        if isinstance(n, RangeNode):
            return self.escape_branch(c, n, "range")
        if isinstance(n, TemplateNode):
            return self.escape_template(c, n)
        if isinstance(n, TextNode):
            return self.escape_text(c, n)
        if isinstance(n, WithNode):
            return self.escape_branch(c, n, "with")
        raise GoTemplateError("unsupported construct", type(n).__name__)

    def escape_action(self, c: Context, n: ActionNode) -> Context:
        if n.pipe.decl:
            return c
        c = nudge(c)
        for pos, cmd in enumerate(n.pipe.cmds):
            node = cmd.args[0]
            if not isinstance(node, IdentifierNode):
                continue
            if node.ident in PREDEFINED_ESCAPERS and (
                pos < len(n.pipe.cmds) - 1
                or (c.state == State.ATTR and c.delim == Delim.SPACE_OR_TAG_END and node.ident == "html")
            ):
                return error_context(f"predefined escaper {node.ident!r} disallowed in template")
        s: list[str] = []
        st = c.state
        if st == State.ERROR:
            return c
        if st in (
            State.URL,
            State.CSS_DQ_STR,
            State.CSS_SQ_STR,
            State.CSS_DQ_URL,
            State.CSS_SQ_URL,
            State.CSS_URL,
        ):
            if c.url_part == UrlPart.NONE:
                s.append("_html_template_urlfilter")
            if c.url_part in (UrlPart.NONE, UrlPart.PRE_QUERY):
                if st in (State.CSS_DQ_STR, State.CSS_SQ_STR):
                    s.append("_html_template_cssescaper")
                else:
                    s.append("_html_template_urlnormalizer")
            elif c.url_part == UrlPart.QUERY_OR_FRAG:
                s.append("_html_template_urlescaper")
            else:
                return error_context("action appears in an ambiguous context within a URL")
        elif st == State.META_CONTENT:
            pass
        elif st == State.META_CONTENT_URL:
            s.append("_html_template_urlfilter")
        elif st == State.JS:
            s.append("_html_template_jsvalescaper")
            c = c.with_(js_ctx=JsCtx.DIV_OP)
        elif st in (State.JS_DQ_STR, State.JS_SQ_STR):
            s.append("_html_template_jsstrescaper")
        elif st == State.JS_TMPL_LIT:
            s.append("_html_template_jstmpllitescaper")
        elif st == State.JS_REGEXP:
            s.append("_html_template_jsregexpescaper")
        elif st == State.CSS:
            s.append("_html_template_cssvaluefilter")
        elif st == State.TEXT:
            s.append("_html_template_htmlescaper")
        elif st == State.RCDATA:
            s.append("_html_template_rcdataescaper")
        elif st == State.ATTR:
            pass
        elif st in (State.ATTR_NAME, State.TAG):
            c = c.with_(state=State.ATTR_NAME)
            s.append("_html_template_htmlnamefilter")
        elif st == State.SRCSET:
            s.append("_html_template_srcsetescaper")
        elif is_comment(st):
            s.append("_html_template_commentescaper")
        else:
            raise GoTemplateError("unsupported context", f"unexpected state {st.name}")
        if c.delim == Delim.SPACE_OR_TAG_END:
            s.append("_html_template_nospaceescaper")
        elif c.delim != Delim.NONE:
            s.append("_html_template_attrescaper")
        self._edit_action(n, s)
        return c

    def escape_branch(self, c: Context, n: BranchNode, node_name: str) -> Context:
        if node_name == "range":
            self.range_context = _RangeContext(self.range_context)
        c0 = self.escape_list(c, n.list)
        if node_name == "range":
            assert self.range_context is not None
            if c0.state != State.ERROR:
                c0 = self._join_range(c0, self.range_context)
            self.range_context = self.range_context.outer
            if c0.state == State.ERROR:
                return c0
            self.range_context = _RangeContext(self.range_context)
            c1, _ = self.escape_list_conditionally(c0, n.list, None)
            c0 = join(c0, c1, node_name)
            if c0.state == State.ERROR:
                self.range_context = self.range_context.outer
                return c0
            c0 = self._join_range(c0, self.range_context)
            self.range_context = self.range_context.outer
            if c0.state == State.ERROR:
                return c0
        c1 = self.escape_list(c, n.else_list)
        return join(c0, c1, node_name)

    @staticmethod
    def _join_range(c0: Context, rc: _RangeContext) -> Context:
        for c in rc.breaks:
            c0 = join(c0, c, "range")
            if c0.state == State.ERROR:
                return c0
        for c in rc.continues:
            c0 = join(c0, c, "range")
            if c0.state == State.ERROR:
                return c0
        return c0

    def escape_list(self, c: Context, n: ListNode | None) -> Context:
        if n is None:
            return c
        for m in n.nodes:
            c = self.escape(c, m)
            if c.state == State.DEAD:
                break
        return c

    def escape_list_conditionally(
        self, c: Context, n: ListNode, flt: Callable[[Escaper, Context], bool] | None
    ) -> tuple[Context, bool]:
        e1 = Escaper(self.ns)
        e1.range_context = self.range_context
        e1.output.update(self.output)
        c = e1.escape_list(c, n)
        ok = flt is not None and flt(e1, c)
        if ok:
            self.output.update(e1.output)
            self.derived.update(e1.derived)
            self.called.update(e1.called)
            for action, cmds in e1.action_edits.items():
                self._edit_action(action, cmds)
            for call, callee in e1.template_edits.items():
                self._edit_template(call, callee)
            for text_node, text in e1.text_edits.items():
                self._edit_text(text_node, text)
        return c, ok

    def escape_template(self, c: Context, n: TemplateNode) -> Context:
        c, name = self.escape_tree(c, n.name)
        if name != n.name:
            self._edit_template(n, name)
        return c

    def escape_tree(self, c: Context, name: str) -> tuple[Context, str]:
        dname = c.mangle(name)
        self.called.add(dname)
        out = self.output.get(dname)
        if out is not None:
            return out, dname
        t = self.template(name)
        if t is None:
            return error_context(f"no such template {name!r}"), dname
        if dname != name:
            dt = self.template(dname)
            if dt is None:
                dt = t.copy()
                self.derived[dname] = dt
            t = dt
        return self.compute_out_ctx(c, dname, t), dname

    def compute_out_ctx(self, c: Context, name: str, t: ListNode) -> Context:
        c1, ok = self.escape_template_body(c, name, t)
        if not ok:
            c2, ok2 = self.escape_template_body(c1, name, t)
            if ok2:
                c1, ok = c2, True
        if not ok and c1.state != State.ERROR:
            return error_context(f"cannot compute output context for template {name}")
        return c1

    def escape_template_body(self, c: Context, name: str, t: ListNode) -> tuple[Context, bool]:
        def flt(e1: Escaper, c1: Context) -> bool:
            if c1.state == State.ERROR:
                return False
            if name not in e1.called:
                return True
            return c.eq(c1)

        self.output[name] = c
        return self.escape_list_conditionally(c, t, flt)

    def escape_text(self, c: Context, n: TextNode) -> Context:
        s = n.text
        written, i = 0, 0
        b = bytearray()
        while i != len(s):
            c1, nread = context_after_text(c, s[i:])
            i1 = i + nread
            if c.state in (State.TEXT, State.RCDATA):
                end = i1
                if c1.state != c.state:
                    j = s.rfind(b"<", i, end)
                    if j != -1:
                        end = j
                for j in range(i, end):
                    if s[j] == 0x3C and not s[j:].upper().startswith(b"<!DOCTYPE"):
                        b += s[written:j]
                        b += b"&lt;"
                        written = j + 1
            elif is_comment(c.state) and c.delim == Delim.NONE:
                if c.state == State.JS_BLOCK_CMT:
                    seg = s[written:i1]
                    if any(t in seg for t in (b"\n", b"\r", "\u2028".encode(), "\u2029".encode())):
                        b += b"\n"
                    else:
                        b += b" "
                elif c.state == State.CSS_BLOCK_CMT:
                    b += b" "
                written = i1
            if c.state != c1.state and is_comment(c1.state) and c1.delim == Delim.NONE:
                cs = i1 - 2
                if c1.state in (State.HTML_CMT, State.JS_HTML_OPEN_CMT):
                    cs -= 2
                elif c1.state == State.JS_HTML_CLOSE_CMT:
                    cs -= 1
                b += s[written:cs]
                written = i1
            if is_in_script_literal(c.state) and _SPECIAL_SCRIPT_TAG.search(s, i, i1):
                b += s[written:i]
                b += _SPECIAL_SCRIPT_TAG.sub(rb"\\x3C\1", s[i:i1])
                written = i1
            if i == i1 and c.state == c1.state:
                raise GoTemplateError("unsupported construct", "escaper made no progress")
            c, i = c1, i1
        if written != 0 and c.state != State.ERROR:
            if not is_comment(c.state) or c.delim != Delim.NONE:
                b += n.text[written:]
            self._edit_text(n, bytes(b))
        return c

    # edits -------------------------------------------------------------------------------------
    def _edit_action(self, n: ActionNode, cmds: list[str]) -> None:
        if n in self.action_edits:
            raise GoTemplateError("unsupported construct", "node shared between templates")
        self.action_edits[n] = cmds

    def _edit_template(self, n: TemplateNode, callee: str) -> None:
        if n in self.template_edits:
            raise GoTemplateError("unsupported construct", "node shared between templates")
        self.template_edits[n] = callee

    def _edit_text(self, n: TextNode, text: bytes) -> None:
        if n in self.text_edits:
            raise GoTemplateError("unsupported construct", "node shared between templates")
        self.text_edits[n] = text

    def template(self, name: str) -> ListNode | None:
        t = self.ns.get(name)
        if t is None:
            t = self.derived.get(name)
        return t

    def commit(self) -> None:
        for name, t in self.derived.items():
            self.ns[name] = t
        for action, cmds in self.action_edits.items():
            ensure_pipeline_contains(action.pipe, cmds)
        for call, callee in self.template_edits.items():
            call.name = callee
        for text_node, text in self.text_edits.items():
            text_node.text = text


def escape_template_set(ns: dict[str, ListNode], name: str) -> None:
    """Escape the template ``name`` of ``ns`` in place (Go's ``escapeTemplate``); raise on error."""
    e = Escaper(ns)
    c, _ = e.escape_tree(Context(), name)
    if c.err is not None:
        raise EscapeFailure(c.err.description)
    if c.state != State.TEXT:
        raise EscapeFailure(f"ends in a non-text context: {c.state.name}")
    e.commit()
