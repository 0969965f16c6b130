"""The one exception type the Go-template port raises."""

from __future__ import annotations

from usermgmt_pipeline.errors import UsermgmtError


class TemplateRenderError(UsermgmtError, ValueError):
    """A template could not be rendered exactly as Go's ``html/template`` would render it.

    Raised both for errors Go itself reports (parse errors, execution errors, escaping errors such as
    ``"=" in unquoted attr``) and for constructs this port refuses because it cannot guarantee
    byte-identical output. Callers must treat both the same way: nothing is sent.
    """

    def __init__(self, template_name: str, construct: str, detail: str) -> None:
        self.template_name = template_name
        self.construct = construct
        self.detail = detail
        super().__init__(f"template {template_name!r}: {construct}: {detail}")


class GoTemplateError(UsermgmtError):
    """Internal error raised below the public API; converted to :class:`TemplateRenderError`."""

    def __init__(self, construct: str, detail: str) -> None:
        self.construct = construct
        self.detail = detail
        super().__init__(f"{construct}: {detail}")
