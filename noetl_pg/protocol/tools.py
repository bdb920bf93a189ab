"""Tool configs: the union of every kind's config model, tagged by `kind`.

Built from the worker's registry of kinds (`noetl_pg.worker.tools`), so the playbook
parser, the worker and anything else check a tool config through the same models:
`parse_tool_config(data)` as written in a playbook (templates may stand in for values),
`parse_tool_config(data, rendered=True)` once the engine has rendered it. Errors name
the field and the kind, with a "did you mean" for a near-miss name.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError, WrapValidator
from pydantic_core import InitErrorDetails

from noetl_pg.protocol.tool_config import (
    BAD_CONFIG,
    MISSING_FIELD,
    RENDERED,
    UNKNOWN_FIELD,
    ConfigPart,
    ToolConfig,
    closest,
    custom_error,
    has_template,
    reraised,
    rule_error,
)
from noetl_pg.worker.tools import KINDS

UNKNOWN_KIND = "tool_kind_unknown"
# The error types whose message says everything (what, which field, which kind).
OWN_ERRORS = frozenset({UNKNOWN_KIND, UNKNOWN_FIELD, MISSING_FIELD, BAD_CONFIG})

KNOWN_TOOL_KINDS: tuple[str, ...] = tuple(KINDS)
# The kinds whose SQL text is not a template unless the step says `template_sql: true`.
SQL_TEXT_KINDS: frozenset[str] = frozenset(
    name for name, kind in KINDS.items() if "template_sql" in kind.config.model_fields
)


def unknown_kind_message(kind: Any) -> str:
    close = closest(str(kind), list(KNOWN_TOOL_KINDS))
    hint = f" (did you mean {close!r}?)" if close else ""
    return f"unknown tool kind {kind!r}{hint}; known kinds: {', '.join(KNOWN_TOOL_KINDS)}"


def _name_the_kind(data: Any, handler: Any) -> Any:
    """Errors of the union in our words; a kind's own errors lose the union's tag."""
    try:
        return handler(data)
    except ValidationError as exc:
        if not isinstance(data, dict):
            errors: list[InitErrorDetails] = [{"type": "dict_type", "loc": (), "input": data}]
            raise reraised(exc, errors) from None
        errors = []
        for error in exc.errors():
            kind, loc = error["type"], error["loc"]
            if kind == "union_tag_invalid":
                tag = data.get("kind")
                errors.append(custom_error(UNKNOWN_KIND, unknown_kind_message(tag), ("kind",), tag))
            elif kind == "union_tag_not_found":
                errors.append({"type": "missing", "loc": ("kind",), "input": data})
            elif kind in ("value_error", "assertion_error"):  # a kind's own rule
                errors.append(rule_error({**error, "loc": loc[1:]}))
            else:
                errors.append(custom_error(kind, str(error["msg"]), loc[1:], error.get("input")))
        raise reraised(exc, errors) from None


AnyToolConfig = Annotated[
    Union[tuple(kind.config for kind in KINDS.values())],  # noqa: UP007 - built at run time
    Field(discriminator="kind"),
    WrapValidator(_name_the_kind),
]
_TOOL_CONFIG: TypeAdapter[ToolConfig] = TypeAdapter(AnyToolConfig)


def parse_tool_config(data: Any, *, rendered: bool = False) -> ToolConfig:
    """The config model of `data` (a mapping with `kind`); ValidationError if it is not one.

    `rendered`: the engine has rendered every template, so none may stand in for a value.
    """
    return _TOOL_CONFIG.validate_python(data, context={RENDERED: rendered})


def config_error_message(exc: ValidationError) -> str:
    """Every problem of a tool config in one line, each naming its field."""
    parts = []
    for error in exc.errors():
        message = str(error["msg"])
        if error["type"] not in OWN_ERRORS and error["loc"]:
            field = ".".join(str(part) for part in error["loc"])
            message = f"`{field}`: {message}"
        parts.append(message)
    return "; ".join(parts)


__all__ = [
    "KNOWN_TOOL_KINDS",
    "AnyToolConfig",
    "ConfigPart",
    "ToolConfig",
    "config_error_message",
    "has_template",
    "parse_tool_config",
    "unknown_kind_message",
]
