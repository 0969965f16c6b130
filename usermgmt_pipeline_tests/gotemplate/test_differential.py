"""Differential test: generated templates rendered by this port and by Go's html/template."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usermgmt_pipeline.gotemplate import TemplateRenderError, render_html_template

from .oracle import run_oracle
from .strategies import data_maps, templates
from .test_fuzz import soup


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(source=templates(), data=data_maps)
def test_port_never_differs_from_go(go_oracle: None, source: str, data: dict[str, str]) -> None:
    (go,) = run_oracle([{"name": "diff/t", "template": source, "data": data}])
    try:
        ours: str | None = render_html_template(source, data, name="diff/t")
    except TemplateRenderError:
        ours = None  # refusing is always allowed; disagreeing never is
    if go.error is not None:
        assert ours is None, f"Go failed ({go.error}) but the port rendered {ours!r}"
    elif ours is not None:
        assert go.valid_utf8
        assert ours == go.output


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(source=st.one_of(soup, st.text(max_size=60)), data=data_maps)
def test_port_accepts_and_rejects_token_soup_like_go(
    go_oracle: None, source: str, data: dict[str, str]
) -> None:
    (go,) = run_oracle([{"name": "diff/soup", "template": source, "data": data}])
    try:
        ours: str | None = render_html_template(source, data, name="diff/soup")
    except TemplateRenderError:
        ours = None
    if go.error is not None:
        assert ours is None, f"Go failed ({go.error}) but the port rendered {ours!r}"
    elif ours is not None:
        assert ours == go.output
