// Command gotemplateoracle renders CASE email templates exactly as the CASE
// messaging code does (Go html/template, data = map[string]string) so that the
// Python port in usermgmt_pipeline/gotemplate can be compared against it.
//
// Input on stdin:  [{"name": "...", "template": "...", "data": {"k": "v"}}, ...]
// Output on stdout: [{"output": "...", "error": null | "...", "valid_utf8": true}, ...]
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"strings"
	"unicode/utf8"
)

type request struct {
	Name     string            `json:"name"`
	Template string            `json:"template"`
	Data     map[string]string `json:"data"`
}

type response struct {
	Output    string  `json:"output"`
	Error     *string `json:"error"`
	ValidUTF8 bool    `json:"valid_utf8"`
}

// resolveTemplate mirrors CASE's email template rendering: empty bodies are
// rejected, the body is parsed under the given name and executed with the
// flat string map as dot.
func resolveTemplate(name, def string, data map[string]string) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	if strings.TrimSpace(def) == "" {
		return "", fmt.Errorf("empty template %s", name)
	}
	tmpl, err := template.New(name).Parse(def)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func main() {
	var reqs []request
	if err := json.NewDecoder(os.Stdin).Decode(&reqs); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	resps := make([]response, len(reqs))
	for i, r := range reqs {
		data := r.Data
		if data == nil {
			data = map[string]string{}
		}
		out, err := resolveTemplate(r.Name, r.Template, data)
		resps[i] = response{Output: out, ValidUTF8: utf8.ValidString(out)}
		if err != nil {
			msg := err.Error()
			resps[i].Error = &msg
			resps[i].Output = ""
			resps[i].ValidUTF8 = true
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resps); err != nil {
		fmt.Fprintln(os.Stderr, "encode:", err)
		os.Exit(2)
	}
}
