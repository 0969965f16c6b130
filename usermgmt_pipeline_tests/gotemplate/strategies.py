"""Hypothesis strategies generating Go templates in the shapes CASE email templates use (and the
exotic corners around them)."""

from __future__ import annotations

from hypothesis import strategies as st

KEYS = ["a", "b", "token", "nope"]

VALUE_ATOMS = [
    "", "x", "abc2def7", "R&D", "<P>", '"q"', "'s'", "a+b@example.com", "\x00", "ä", "日本", " ",
    "javascript:alert(1)", "https://example.com/p q?x=1&y=ä#f", "mailto:a@b", "/rel/path", "%2F%zz",
    "expression(x)", "red", "1", "0", "</script>", "<!--", "-->", "\u2028", "\t\n", "=", "`", "{}", "\\",
    "\ufdd0", "onclick", "Title", "a,b 2x",
]  # fmt: skip

data_values = st.lists(st.sampled_from(VALUE_ATOMS), max_size=3).map("".join)
data_maps = st.dictionaries(st.sampled_from([*KEYS[:3], "c", "language"]), data_values, max_size=5)

operands = st.sampled_from(
    [".a", ".b", ".token", ".nope", '(index . "a")', '(index . "nope")', "$", ".", '"lit<&>"', "`raw'`",
     "1", "-2", "1.5", "true", "false", "0x1F", "'x'", "$.a", "(.a)", '""']
)  # fmt: skip

_unary_templates = [
    "{0}", "{0} | html", "{0} | urlquery", "{0} | js", "html {0}", "urlquery {0}", "js {0}", "print {0}",
    "print {0} {1}", "println {0}", 'printf "%s|%v" {0} {1}', 'printf "%d" {0}', 'printf "%q %x" {0} {0}',
    "len {0}", "eq {0} {1}", "ne {0} {1}", "lt {0} {1}", "and {0} {1}", "or {0} {1}", "not {0}",
    "slice {0} 1", "index {0}", "{0} | print {1}", "{0} | printf \"%s-%s\" {1}", "le {0} {1}",
]  # fmt: skip

pipelines = st.builds(lambda t, a, b: t.format(a, b), st.sampled_from(_unary_templates), operands, operands)


def _action(p: str, trim_l: bool, trim_r: bool) -> str:
    return "{{" + ("- " if trim_l else "") + p + (" -" if trim_r else "") + "}}"


actions = st.builds(_action, pipelines, st.booleans(), st.booleans())

texts = st.sampled_from(
    ["", " ", "Hi ", "\n  ", "a<b", "<!-- c -->", "<!--[if mso]><b>m</b><![endif]-->", "&amp;", "+", "x>y",
     "<br/>", "<b>", "</b>"]
)  # fmt: skip

_contexts = [
    "{}", "<p>{}</p>", '<p title="{}">', "<p title='{}'>", "<p title={}>", '<a href="{}">x</a>',
    '<a href="https://x.org/verify?token={}&lang=de">', '<a href="/p/{}#f">', "<img src='{}'>",
    '<a href="mailto:{}">', "<script>var a = {};</script>", '<script>var s = "{}";</script>',
    "<script>var s = '{}';</script>", "<script>var r = /{}/;</script>", "<style>p {{ color: {} }}</style>",
    '<p style="color: {}">', "<style>p {{ font-family: \"{}\" }}</style>", "<title>{}</title>",
    "<textarea>{}</textarea>", "<!-- {} -->", '<p {}="1">', "<script>// {}\n</script>",
    '<img srcset="{}">', "<style>p {{ background: url({}) }}</style>", '<a onclick="f({})">',
    '<meta http-equiv="refresh" content="0; url={}">', "<!DOCTYPE html>{}",
]  # fmt: skip

contexts = st.sampled_from(_contexts)


@st.composite
def bodies(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.integers(0, 9 if depth < 2 else 3))
        if kind <= 2:
            parts.append(draw(texts) + draw(actions) + draw(texts))
        elif kind == 3:
            parts.append("{{/* note */}}" + draw(texts))
        elif kind == 4:
            parts.append(
                f"{{{{if {draw(pipelines)}}}}}{draw(bodies(depth + 1))}{{{{else}}}}{draw(bodies(depth + 1))}{{{{end}}}}"
            )
        elif kind == 5:
            parts.append(f"{{{{with {draw(operands)}}}}}{draw(bodies(depth + 1))}{{{{else}}}}-{{{{end}}}}")
        elif kind == 6:
            parts.append(
                f"{{{{range $k, $v := .}}}}{{{{$k}}}}={{{{$v}}}}{draw(bodies(depth + 1))}{{{{else}}}}none{{{{end}}}}"
            )
        elif kind == 7:
            parts.append(f"{{{{$x := {draw(pipelines)}}}}}{draw(bodies(depth + 1))}{{{{$x}}}}")
        elif kind == 8 and depth == 0:
            name = f"t{len(parts)}"
            body = draw(bodies(depth + 1))
            parts.append(
                f'{{{{define "{name}"}}}}{body}{{{{end}}}}{{{{template "{name}" {draw(operands)}}}}}'
            )
        elif kind == 8:
            parts.append(
                f'{{{{block "b{depth}x{len(parts)}" {draw(operands)}}}}}{draw(texts)}{{{{.}}}}{{{{end}}}}'
            )
        else:
            parts.append(
                f"{{{{range {draw(st.sampled_from(['3', '0', '.', '.a']))}}}}}[{{{{.}}}}]{{{{end}}}}"
            )
    return "".join(parts)


@st.composite
def templates(draw: st.DrawFn) -> str:
    ctx = draw(contexts)
    return ctx.format(draw(bodies()))
