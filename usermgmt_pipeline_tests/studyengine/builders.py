"""Terse builders of study-engine expressions for the vectors (the job itself only decodes stored rules)."""

from __future__ import annotations

from usermgmt_pipeline.studyengine.model import Expression, ExpressionArg


def string_arg(value: str) -> ExpressionArg:
    return ExpressionArg(dtype="str", str_value=value)


def num_arg(value: float) -> ExpressionArg:
    return ExpressionArg(dtype="num", num=float(value))


def exp_arg(expression: Expression | None) -> ExpressionArg:
    return ExpressionArg(dtype="exp", exp=expression)


def expr(name: str, *args: ExpressionArg | str | float | Expression, return_type: str = "") -> Expression:
    """Build an expression tersely: ``str`` -> str arg, number -> num arg, Expression -> exp arg."""
    data: list[ExpressionArg] = []
    for arg in args:
        if isinstance(arg, ExpressionArg):
            data.append(arg)
        elif isinstance(arg, Expression):
            data.append(exp_arg(arg))
        elif isinstance(arg, str):
            data.append(string_arg(arg))
        else:
            data.append(num_arg(arg))
    return Expression(name=name, return_type=return_type, data=data)
