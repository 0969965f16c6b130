"""Regenerates cases.json: every template/data pair below rendered by Go's html/template through
tools/gotemplate_oracle. Run: ``.venv/bin/python -m usermgmt_pipeline_tests.gotemplate.generate_cases``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .oracle import go_version, run_oracle

CASES_FILE = Path(__file__).with_name("cases.json")

X = "R&D <P> \"x\" 'y'"
U = "https://example.com/path with space?q=1&r=ä"
D = {"token": "abc2def7", "language": "de", "app_name": "Grippenet", "x": X, "u": U, "e": "a+b@example.com"}

# (id, template, data)
DEFINITIONS: list[tuple[str, str, dict[str, str]]] = [
    # --- actions, fields, missing keys -------------------------------------------------------
    ("field", "Hi {{.app_name}}!", D),
    ("missing-key", "Hi {{.nope}}!", {}),
    ("index-token", '<a href="https://x.org/login?token={{index . "token"}}">go</a>', D),
    ("index-missing", '[{{index . "nope"}}]', {}),
    ("dot-map", "{{.}}", {"b": "2", "a": "1<"}),
    ("field-on-string-errors", "{{.x.y}}", D),
    ("field-with-args-errors", "{{.x 1}}", D),
    # --- HTML text escaping ------------------------------------------------------------------
    ("html-text-escape", "<p>{{.x}}</p>", D),
    ("html-plus", "<p>{{.e}}</p>", D),
    ("html-nul", "<p>{{.n}}</p>", {"n": "a\x00b"}),
    ("html-unicode", "<p>{{.s}}</p>", {"s": "Grüezi – ça va? 日本 \ufdd0"}),
    ("text-lt-in-template", "a < b {{.x}} 1<2", D),
    # --- comments and doctype ----------------------------------------------------------------
    ("html-comments", "<!-- c -->A<!--[if mso]><b>m</b><![endif]-->B", {}),
    ("doctype", "<!DOCTYPE html><html><body>{{.x}}</body></html>", D),
    ("doctype-lower", "<!doctype html><p>x</p>", {}),
    ("comment-with-action", "<!-- {{.x}} -->after", D),
    ("template-comment", "a{{/* a comment */}}b{{- /* trim */ -}}  c", {}),
    # --- attributes --------------------------------------------------------------------------
    ("attr-dq", '<p title="{{.x}}">t</p>', D),
    ("attr-sq", "<p title='{{.x}}'>t</p>", D),
    ("attr-unquoted-value-errors", "<a href=https://x.org/?t={{.token}}>x</a>", D),
    ("attr-unquoted-action", "<p title={{.x}}>t</p>", D),
    ("attr-unquoted-empty", "<p title={{.nope}}>t</p>", {}),
    ("attr-name", '<p {{.a}}="v">t</p>', {"a": "Class"}),
    ("attr-name-unsafe", '<p {{.a}}="v">t</p>', {"a": "onclick"}),
    ("attr-whole", "<p {{.a}}>t</p>", {"a": "checked"}),
    # --- URLs ---------------------------------------------------------------------------------
    ("url-whole", '<a href="{{.u}}">x</a>', D),
    (
        "url-query",
        '<a href="https://x.org/verify?token={{.t}}&lang={{.l}}&u={{.u}}">x</a>',
        {"t": "abc2def7", "l": "de", "u": U},
    ),
    ("url-javascript", '<a href="{{.j}}">x</a>', {"j": "javascript:alert(1)"}),
    ("url-mailto", '<a href="mailto:{{.e}}">x</a>', D),
    ("url-mailto-whole", '<a href="{{.m}}">x</a>', {"m": "MAILTO:a+b@example.com"}),
    ("url-fragment", '<a href="#{{.x}}">x</a>', D),
    ("url-path-prefix", '<a href="/users/{{.x}}/edit">x</a>', D),
    ("url-normalize-percent", '<a href="{{.p}}">x</a>', {"p": "/a%20b%zz[1]"}),
    ("url-src", '<img src="{{.u}}" alt="{{.x}}">', D),
    ("url-action", '<form action="{{.u}}"></form>', D),
    ("url-unquoted", "<a href={{.u}}>x</a>", D),
    ("url-single-quoted", "<a href='https://x.org/?a={{.x}}'>x</a>", D),
    ("url-data-attr", '<a data-href="{{.u}}">x</a>', D),
    ("srcset", '<img srcset="{{.s}}">', {"s": "a.png 1x, javascript:x 2x, b c.png"}),
    ("url-if-ambiguous-errors", '<a href="{{if .c}}/a?x={{else}}/b{{end}}{{.x}}">x</a>', {"c": "1"}),
    # --- JS ------------------------------------------------------------------------------------
    ("js-str-and-value", '<script>var t = "{{.x}}"; var u = {{.t}};</script>', {"x": X, "t": "abc2def7"}),
    ("js-sq-str", "<script>var t = '{{.x}}';</script>", D),
    ("js-value-map", "<script>var d = {{.}};</script>", {"k": "v</script>"}),
    ("js-value-missing", "<script>var d = {{.nope}};</script>", {}),
    ("js-value-numbers", "<script>var a = {{1}}, b = {{1.5}}, c = {{true}};</script>", {}),
    ("js-regexp", "<script>var r = /{{.x}}/;</script>", D),
    ("js-template-literal", "<script>var s = `a {{.x}}`;</script>", D),
    ("js-comments-stripped", "<script>// line {{.x}}\nvar a = 1; /* block\n */ var b = 2;</script>", D),
    ("js-onclick", '<button onclick="f({{.x}})">b</button>', D),
    ("js-line-separator", "<script>var s = {{.s}};</script>", {"s": "a\u2028b"}),
    ("js-div-vs-regexp", "<script>var a = b / {{.n}}; var c = /x/.test('{{.n}}');</script>", {"n": "2"}),
    # --- CSS -----------------------------------------------------------------------------------
    ("css-value", "<style>p { color: {{.c}}; }</style>", {"c": "red"}),
    ("css-value-unsafe", "<style>p { color: {{.c}}; }</style>", {"c": "expression(alert(1))"}),
    ("css-string", '<style>p { font-family: "{{.x}}"; }</style>', D),
    ("css-url", "<style>p { background: url({{.u}}); }</style>", D),
    ("css-url-quoted", "<style>p { background: url('{{.u}}'); }</style>", D),
    ("style-attr", '<p style="color: {{.c}}">t</p>', {"c": "#fff"}),
    ("css-comment-stripped", "<style>/* c */ p { } </style>", {}),
    # --- RCDATA --------------------------------------------------------------------------------
    ("rcdata-title", "<title>{{.x}} & more</title>", D),
    ("rcdata-textarea", "<textarea>{{.x}}<b></textarea>", D),
    # --- control structures --------------------------------------------------------------------
    ("if-else", "{{if .a}}A{{else if .b}}B{{else}}C{{end}}", {"b": "1"}),
    ("if-empty-string", "{{if .a}}yes{{else}}no{{end}}", {"a": ""}),
    ("with-else", "{{with .a}}[{{.}}]{{else}}none{{end}}|{{with .b}}[{{.}}]{{end}}", {"a": "x<"}),
    ("with-else-with", "{{with .a}}A{{else with .b}}B{{.}}{{end}}", {"b": "bee"}),
    ("range-map", "{{range $k, $v := .}}{{$k}}={{$v}};{{end}}", {"b": "2", "a": "1", "c": "3"}),
    ("range-map-dot", "{{range .}}<{{.}}>{{end}}", {"b": "2", "a": "1"}),
    ("range-empty-else", "{{range .}}x{{else}}empty{{end}}", {}),
    ("range-int", "{{range $i := 3}}{{$i}},{{end}}", {}),
    (
        "range-break-continue",
        '{{range $k, $v := .}}{{if eq $k "b"}}{{continue}}{{end}}{{if eq $k "d"}}{{break}}{{end}}{{$k}}{{end}}',
        {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"},
    ),
    ("range-string-errors", "{{range .a}}x{{end}}", {"a": "abc"}),
    ("variables", '{{$x := .a}}{{$x}}{{$x = "b"}}{{$x}}{{$}}', {"a": "A"}),
    ("variable-scope", "{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", {}),
    ("undefined-variable-errors", "{{$nope}}", {}),
    ("define-template", '{{define "greet"}}Hello {{.}}{{end}}{{template "greet" .app_name}}!', D),
    ("block", '{{block "footer" .}}<footer>{{.app_name}}</footer>{{end}}', D),
    (
        "template-in-attr",
        '{{define "v"}}{{.}}{{end}}<a title="{{template "v" .x}}" href="/{{template "v" .x}}">{{template "v" .x}}</a>',
        D,
    ),
    ("template-missing-errors", '{{template "nope"}}', {}),
    ("trim-markers", 'a  {{- .x -}}  b\n{{- " c " -}}\n d', {"x": "X"}),
    ("parens", '{{(print .a .b)}}{{printf "%s-%s" (index . "a") (.b)}}', {"a": "1", "b": "2"}),
    # --- literals ------------------------------------------------------------------------------
    (
        "literals",
        "{{\"q\\tuote\"}}|{{`raw\\n`}}|{{42}}|{{-7}}|{{0x1F}}|{{1e3}}|{{1.25}}|{{true}}|{{'a'}}|{{0o17}}|{{1_000}}",
        {},
    ),
    ("nil-is-not-a-command-errors", "{{nil}}", {}),
    ("print-nil", "{{print nil}}|{{print .nope}}|{{html nil}}|{{.nope | html}}", {}),
    # --- builtins ------------------------------------------------------------------------------
    (
        "and-or-not",
        '{{and .a .b}}|{{or .a .b}}|{{or .nope .b}}|{{not .a}}|{{and 1 0}}|{{or 0 ""}}',
        {"a": "A", "b": "B"},
    ),
    (
        "comparisons",
        '{{eq .a "x"}} {{ne .a "y"}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 2.5}} {{eq .a "q" "x"}}',
        {"a": "x"},
    ),
    ("eq-missing-key", '{{eq .nope ""}} {{eq (index . "nope") ""}}', {}),
    ("eq-incompatible-errors", '{{eq 1 "1"}}', {}),
    ("lt-bool-errors", "{{lt true false}}", {}),
    ("len", '{{len .}} {{len .s}} {{len ""}}', {"s": "äbc", "t": "x"}),
    ("index-nested", '{{index . "a"}}{{index . }}', {"a": "A"}),
    ("slice", "{{slice .s 1 3}}|{{slice .s 2}}|{{slice .s}}", {"s": "abcdef"}),
    ("print-println", '{{print "a" 1 2 "b" true}}|{{println "a" 1}}|{{print 1.0 1e21 0.000001}}', {}),
    (
        "printf-verbs",
        '{{printf "%s|%d|%v|%q|%x|%X|%5s|%-5s|%05d|%%|%t|%c|%o|%b" .s 42 .s .s .s 255 "ab" "ab" -42 true 65 8 5}}',
        {"s": 'hé"'},
    ),
    ("printf-floats", '{{printf "%f|%.2f|%e|%g|%8.3f|%+d|%x" 3.14159 2.5 1234.5678 0.0001 -1.5 5 -255}}', {}),
    ("printf-errors-in-output", '{{printf "%d %s" "str"}}|{{printf "%s" 1 2}}|{{printf "%!"}}', {}),
    ("html-js-urlquery", "{{html .x}}|{{js .x}}|{{urlquery .u}}|{{.x | html}}|{{.u | urlquery}}", D),
    ("urlquery-in-href", '<a href="/?q={{.u | urlquery}}">x</a><a href="{{urlquery .u}}">y</a>', D),
    ("html-in-unquoted-attr-errors", "<p title={{.x | html}}>", D),
    ("predefined-escaper-not-last-errors", "{{.x | html | print}}", D),
    ("unknown-function-errors", "{{nope .x}}", D),
    ("parse-error-unclosed", "{{if .a}}x", {}),
    ("parse-error-bad-action", "{{.a b}}", {}),
    ("non-text-end-errors", '<a href="{{.x}}', D),
    ("branches-differ-errors", '{{if .a}}<a href="{{else}}<b>{{end}}x', D),
    ("meta-refresh", '<meta http-equiv="refresh" content="5; url={{.u}}">', D),
    ("script-json-type", '<script type="application/json">{"a": {{.x}}}</script>', D),
    ("script-unknown-type", '<script type="text/template"><p>{{.x}}</p></script>', D),
    # --- exotic corners (checked against Go) --------------------------------------------------
    ("url-entity-encoded-scheme", '<a href="&#106;avascript:{{.x}}">x</a>', D),
    (
        "template-called-in-three-contexts",
        '{{define "t"}}<b>{{.}}</b>{{end}}<p title="{{template "t" .x}}">{{template "t" .x}}</p><script>{{template "t" .x}}</script>',
        D,
    ),
    ("js-template-literal-interpolation", "<script>var s = `a${x}b{{.x}}`;</script>", D),
    (
        "js-numbers-json",
        "<script>var a = {{1e-7}}, b = {{1e21}}, c = {{-0.0}}, d = {{12345678.9}};</script>",
        {},
    ),
    ("printf-float-precision", '{{printf "%.3g|%g|%G|%e|%10.4e" 1234.5678 1e-5 1e20 0.0 3.0}}', {}),
    (
        "printf-flags",
        '{{printf "%6.2f|%-8.3f|%08.3f|%+.1e|% d|%x|%X|%#x|%#o" 3.14159 2.0 -1.5 12345.0 5 "hi" "hi" 255 8}}',
        {},
    ),
    ("printf-map", '{{printf "%s|%d|%q" . . .}}', {"k": "v"}),
    ("text-js-builtin", "{{js .s}}", {"s": "<a>='\"\u2028é\x01"}),
    ("range-assign-outer-var", "{{$x := 0}}{{range .}}{{$x = .}}{{end}}{{$x}}", {"a": "1", "b": "2"}),
    ("branch-joins-url-part", '<a href="{{if .a}}/x{{else}}/y{{end}}?q={{.a}}">', {"a": "A B"}),
    ("script-html-comment", "<script><!-- \nvar a = {{.x}};\n--></script>", D),
    ("textarea-case-insensitive-end", "<textarea>{{.x}}</TEXTAREA>{{.x}}", D),
    ("number-overflow-errors", "{{9223372036854775808}}", {}),
    ("multiple-definition-errors", '{{define "a"}}x{{end}}{{define "a"}}y{{end}}', {}),
    ("recursion-errors", '{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}', {}),
    ("whitespace-only-errors", "  \n\t ", {}),
]


def build_cases() -> dict:
    requests = [{"name": f"case/{cid}", "template": t, "data": d} for cid, t, d in DEFINITIONS]
    results = run_oracle(requests)
    cases = []
    for (cid, t, d), r in zip(DEFINITIONS, results, strict=True):
        if not r.valid_utf8:
            raise ValueError(f"case {cid}: Go produced invalid UTF-8")
        cases.append(
            {"id": cid, "template": t, "data": d, "expected_output": r.output, "expected_error": r.error}
        )
    return {
        "about": (
            "Expected outputs were produced by tools/gotemplate_oracle (Go's html/template, data = "
            f"map[string]string, as CASE renders email templates) with Go {go_version()}. "
            "expected_error is Go's error text (the Python port only has to raise, not match the text)."
        ),
        "cases": cases,
    }


def main() -> None:
    CASES_FILE.write_text(json.dumps(build_cases(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {CASES_FILE}")


if __name__ == "__main__":
    main()
