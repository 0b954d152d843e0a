"""Jinja2 rendering with StrictUndefined: a missing field is an error, never an empty string.

Templates of a YAML task may ``{% include "prompt.jinja" %}`` files next to the YAML file
(``root``); nothing outside that folder can be included."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.meta

from medlethe.errors import TaskConfigError


@functools.lru_cache(maxsize=64)
def _env(root: str | None) -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # prompts are plain text, never HTML
        loader=jinja2.FileSystemLoader(root) if root else None,
    )


@functools.lru_cache(maxsize=512)
def _template(source: str, root: str | None = None) -> jinja2.Template:
    return _env(root).from_string(source)


@functools.lru_cache(maxsize=512)
def _expression(source: str) -> Any:
    return _env(None).compile_expression(source, undefined_to_none=False)


@functools.lru_cache(maxsize=512)
def _names(source: str) -> frozenset[str]:
    """The variables a template reads (not those of included files)."""
    return frozenset(jinja2.meta.find_undeclared_variables(_env(None).parse(source)))


def location(origin: str, field: str, row: int | None = None) -> str:
    """Where an error is: file, field and, for a 0-based row index, the row counted from 1
    (as the packs count)."""
    at = f" (row {row + 1})" if row is not None else ""
    return f"{origin}, field {field}{at}"


def check_syntax(
    source: str, *, origin: str, field: str, expression: bool = False, root: str | None = None
) -> None:
    """Raise a :class:`TaskConfigError` if a template or expression does not parse."""
    try:
        _expression(source) if expression else _template(source, root)
    except jinja2.TemplateSyntaxError as exc:
        raise TaskConfigError(
            f"{location(origin, field, None)}: Jinja2 syntax error: {exc.message}"
        ) from exc


def render(
    source: str,
    doc: Mapping[str, Any],
    *,
    origin: str,
    field: str,
    row: int | None = None,
    root: str | None = None,
) -> str:
    """Render a template against one dataset row. A field the template names that the row
    holds as null (a JSON ``null``, or a column missing from this row) is an error: it would
    otherwise render as the text "None"."""
    null = sorted(n for n in _names(source) if n in doc and doc[n] is None)
    if null:
        raise TaskConfigError(
            f"{location(origin, field, row)}: field {null[0]!r} is null in this row; fill it "
            "in, or leave such rows out with 'on_invalid_row: skip'."
        )
    try:
        return _template(source, root).render(**doc)
    except jinja2.TemplateNotFound as exc:
        raise TaskConfigError(
            f"{location(origin, field, row)}: included template {exc.name!r} is not in "
            f"{root}; put it next to the task file."
        ) from exc
    except jinja2.UndefinedError as exc:
        raise TaskConfigError(
            f"{location(origin, field, row)}: {exc.message}. The row has fields "
            f"{sorted(doc)}; fix the template or the data."
        ) from exc
    except jinja2.TemplateError as exc:
        raise TaskConfigError(f"{location(origin, field, row)}: {exc}") from exc


def evaluate(
    source: str, doc: Mapping[str, Any], *, origin: str, field: str, row: int | None = None
) -> Any:
    """Evaluate a Jinja2 expression (``[opa, opb]``, ``cop``, ``subject == 'Surgery'``)."""
    try:
        value = _expression(source)(**doc)
    except jinja2.UndefinedError as exc:
        raise TaskConfigError(
            f"{location(origin, field, row)}: {exc.message}. The row has fields {sorted(doc)}."
        ) from exc
    except jinja2.TemplateError as exc:
        raise TaskConfigError(f"{location(origin, field, row)}: {exc}") from exc
    if isinstance(value, jinja2.Undefined):
        raise TaskConfigError(f"{location(origin, field, row)}: expression is undefined")
    return value
