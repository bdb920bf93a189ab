"""What the SQL kinds (`postgres`, `duckdb`) share: SQL text, bound params, `template_sql`.

A kind whose config derives from `SqlTextConfig` is an SQL text kind: its text is never a
template unless it says `template_sql: true` (the DSL reads the set of such kinds from the
registry, `noetl_pg.protocol.tools.SQL_TEXT_KINDS`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import ValidationInfo, field_validator, model_validator

from noetl_pg.protocol.tool_config import Seconds, Templated, ToolConfig, has_template, rendered


class SqlTextConfig(ToolConfig):
    # The driver's placeholders, for the messages.
    named: ClassVar[str] = "%(name)s"
    positional: ClassVar[str] = "%s"

    query: str | None = None
    command: str | None = None  # another name for query
    params: dict[str, Any] | list[Any] | str | None = None  # str: a template, until rendered
    template_sql: bool = False
    timeout: Templated[Seconds] | None = None

    @field_validator("params", mode="before")
    @classmethod
    def _bound_values(cls, params: Any, info: ValidationInfo) -> Any:
        if params is None or isinstance(params, dict | list):
            return params
        if has_template(params) and not rendered(info):
            return params
        raise ValueError(
            f"{cls.label} `params` must be a mapping (for {cls.named}) or a list"
            f" (for {cls.positional})"
        )

    @field_validator("template_sql", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"{cls.label} `template_sql` must be true or false")
        return value

    @model_validator(mode="after")
    def _sql_text(self, info: ValidationInfo) -> Self:
        if not self.query and not self.command:
            raise ValueError(f"{self.label} needs `query` or `command` (SQL text)")
        if not rendered(info):
            self._check_sql_text()
        return self

    @property
    def sql(self) -> str:
        return str(self.query or self.command)

    def _check_sql_text(self) -> None:
        """Values reach SQL as bound parameters. A template in the SQL text pastes values
        into it (an injection waiting to happen), so it needs an explicit `template_sql`."""
        for key in ("query", "command"):
            if has_template(getattr(self, key)) and not self.template_sql:
                raise ValueError(
                    f"{self.label} `{key}` contains a template, which would paste values into"
                    f" the SQL text; pass values with `params` (bound: {self.named}"
                    f" or {self.positional}), or set `template_sql: true` to render the SQL"
                    " text on purpose"
                )
