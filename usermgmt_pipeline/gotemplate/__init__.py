"""Go ``html/template`` compatible rendering of CASE email templates.

CASE renders email bodies with Go's ``html/template`` and sends the result unchanged, so this
package is a hand-written port of the parts of Go's ``text/template`` (parser, executor,
builtins) and ``html/template`` (contextual autoescaping) that a template over a flat
``map[string]string`` can reach. No Python library reproduces Go's output byte for byte.
"""

from .errors import TemplateRenderError
from .render import render_html_template

__all__ = ["TemplateRenderError", "render_html_template"]
