"""Go ``html/template`` compatible rendering of CASE email templates.

CASE renders email bodies with Go's ``html/template`` and sends the result unchanged, so this
package is a hand-written port of the parts of Go's ``text/template`` (parser, executor,
builtins) and ``html/template`` (contextual autoescaping) that a template over a flat
``map[string]string`` can reach. No Python library reproduces Go's output byte for byte.
"""

from .errors import TemplateRenderError
from .execute import DEFAULT_LIMITS, RenderLimits
from .render import render_html_template

__all__ = ["DEFAULT_LIMITS", "RenderLimits", "TemplateRenderError", "render_html_template"]
