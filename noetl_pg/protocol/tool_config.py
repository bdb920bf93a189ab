"""The base of every tool kind's config model, and what a template may stand in for.

A playbook's tool config is checked twice by the same model: as written (where any field
value may still be a `{{ template }}`), and by the worker once the engine has rendered it
(`RENDERED` in the validation context: every value must then be what its field says).
Errors name the field and the kind, with a "did you mean" for a near-miss field name.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

T = TypeVar("T")

# Validation context key: the config was rendered by the engine, so templates are gone.
RENDERED = "rendered"

# Error types raised here (the parser shows their message as it is).
UNKNOWN_FIELD = "tool_field_unknown"
MISSING_FIELD = "tool_field_missing"
BAD_CONFIG = "tool_config"


def has_template(value: Any) -> bool:
    """True for a string that holds template markup (`{{` or `{%`)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def rendered(info: ValidationInfo) -> bool:
    """True when the value being validated was rendered already (the worker's check)."""
    return bool(info.context and info.context.get(RENDERED))


def _template_or(value: Any, handler: Any, info: ValidationInfo) -> Any:
    if has_template(value) and not rendered(info):
        return value  # rendered later; checked again then
    return handler(value)


# A field of type T whose value, as written in a playbook, may be a template instead.
Templated = Annotated[T, WrapValidator(_template_or)]
# A timeout.
Seconds = Annotated[float, Field(gt=0)]


def closest(name: str, choices: list[str]) -> str | None:
    """The choice `name` is most likely a misspelling of, if any is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def rule_error(error: ErrorDetails) -> InitErrorDetails:
    """A failed rule (a validator's ValueError) as our error, worded as the rule said."""
    message = str(error["msg"]).removeprefix("Value error, ")
    return custom_error(BAD_CONFIG, message, error["loc"], error.get("input"))


def custom_error(kind: str, message: str, loc: tuple[Any, ...], value: Any) -> InitErrorDetails:
    """A validation error of our own type whose message is `message` exactly."""
    return {
        "type": PydanticCustomError(kind, "{message}", {"message": message}),
        "loc": loc,
        "input": value,
    }


def reraised(exc: ValidationError, errors: list[InitErrorDetails]) -> ValidationError:
    return ValidationError.from_exception_data(exc.title, errors)


class ConfigPart(BaseModel):
    """A mapping inside a tool config (the config itself, or a part such as http `auth`):
    unknown fields are refused by name, with the closest known field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # How errors name this mapping ("http tool", "http `auth`").
    label: ClassVar[str] = "tool"

    @classmethod
    def field_names(cls) -> list[str]:
        """The keys this mapping takes, as written (`kind` is the union's, not a field)."""
        return [field.alias or name for name, field in cls.model_fields.items() if name != "kind"]

    @classmethod
    def _explain(cls, exc: ValidationError) -> ValidationError:
        """Our wording for an unknown or missing field and a failed rule; other errors
        keep pydantic's message (e.g. "Input should be a valid number")."""
        names = cls.field_names()
        errors: list[InitErrorDetails] = []
        for error in exc.errors():
            kind, loc, value = error["type"], error["loc"], error.get("input")
            message = str(error["msg"])
            if kind == "extra_forbidden" and len(loc) == 1:
                field = str(loc[0])
                close = closest(field, names)
                hint = f"did you mean {close!r}?" if close else f"its fields: {', '.join(names)}"
                kind, message = UNKNOWN_FIELD, f"unknown field {field!r} of {cls.label}; {hint}"
            elif kind == "missing" and len(loc) == 1:
                field = str(loc[0])
                about = cls.model_fields[field].description if field in cls.model_fields else None
                kind, message = (
                    MISSING_FIELD,
                    f"{cls.label} needs `{field}`" + (f" ({about})" if about else ""),
                )
            elif kind in ("value_error", "assertion_error"):
                errors.append(rule_error(error))
                continue
            errors.append(custom_error(kind, message, loc, value))
        return reraised(exc, errors)

    @model_validator(mode="wrap")
    @classmethod
    def _explain_errors(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise cls._explain(exc) from None


class ToolConfig(ConfigPart):
    """The config of one tool kind: `kind` is its tag in the union of every kind's model.

    A subclass declares `kind: Literal["name"] = "name"` and its own fields (templates may
    stand in for a typed value: `Templated[float]`)."""

    kind: str

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.label = f"{cls.kind_name()} tool"

    @classmethod
    def kind_name(cls) -> str:
        """The kind this model configures (its `kind` field's one value)."""
        return str(cls.model_fields["kind"].default)
