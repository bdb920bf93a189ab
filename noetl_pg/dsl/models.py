"""Playbook DSL v2 as pydantic models: the shape of a playbook, nothing about running it.

The models reject what they can see locally (unknown fields, wrong types, a tool without
the fields its kind needs).  Checks that need the whole playbook (step references, a
`start` step, templates that compile) live in `parser.py`, which also maps every error
back to a YAML line.
"""

from __future__ import annotations

import copy
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from noetl_pg.protocol.retention import check_retention
from noetl_pg.protocol.tools import KNOWN_TOOL_KINDS as KNOWN_TOOL_KINDS  # re-exported
from noetl_pg.protocol.tools import parse_tool_config

API_VERSION = "noetl.io/v2"

THEN_ACTIONS: tuple[str, ...] = (
    "set",
    "collect",
    "result",
    "call",
    "retry",
    "next",
    "fail",
    "skip",
    "sink",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def normalize_next(value: Any) -> Any:
    """Accept the three spellings of `next`: a name, a list of names, a list of {step, args}."""
    if value is None:
        return []
    if isinstance(value, str | dict):
        value = [value]
    if isinstance(value, list):
        return [{"step": item} if isinstance(item, str) else item for item in value]
    return value


class NextTarget(_Model):
    step: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class Tool(BaseModel):
    """A tool call: `kind` plus the kind's own configuration, kept as written.

    The configuration is checked by its kind's model (`noetl_pg.protocol.tools`); the
    engine renders the fields as written, and the worker checks the rendered ones again.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str

    @model_validator(mode="before")
    @classmethod
    def _kind_config(cls, data: Any) -> Any:
        if isinstance(data, dict):
            parse_tool_config(data)
        return data

    def config(self) -> dict[str, Any]:
        """Every field except `kind`, as plain data under its original key names."""
        return copy.deepcopy(dict(self.model_extra or {}))

    @property
    def workbook_task(self) -> str | None:
        """For a `workbook` tool, the name of the entry it calls."""
        if self.kind != "workbook":
            return None
        cfg = self.model_extra or {}
        return cfg.get("task") or cfg.get("name")


class Loop(_Model):
    in_: str | list[Any] = Field(alias="in")
    iterator: str = "item"
    mode: Literal["sequential", "parallel"] = "sequential"
    max_in_flight: int | None = Field(default=None, ge=1)

    @field_validator("iterator")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not name.isidentifier():
            raise ValueError(f"loop `iterator` {name!r} must be a plain name (letters, _, digits)")
        return name


class Collect(_Model):
    from_: str = Field(alias="from")
    into: str = Field(min_length=1)
    mode: Literal["append", "extend", "replace"] = "append"


class ResultAction(_Model):
    """`result: {from: EXPR}` sets from_; any other value is taken literally as value."""

    from_: str | None = Field(default=None, alias="from")
    value: Any = None


class Retry(_Model):
    max_attempts: int = Field(default=3, ge=1)
    initial_delay: float = Field(default=1.0, ge=0)
    backoff_multiplier: float = Field(default=2.0, ge=1)
    max_delay: float = Field(default=60.0, ge=0)

    def delay_for(self, attempt_number: int) -> float:
        """Seconds to wait before the retry that follows call number `attempt_number` (1-based)."""
        n = max(1, attempt_number)
        return min(self.initial_delay * self.backoff_multiplier ** (n - 1), self.max_delay)


class Fail(_Model):
    message: str = "failed"

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any) -> Any:
        if data is None:
            return {}
        return {"message": data} if isinstance(data, str) else data


class Skip(_Model):
    reason: str = ""

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any) -> Any:
        if data is None:
            return {}
        return {"reason": data} if isinstance(data, str) else data


class Sink(_Model):
    tool: Tool
    args: dict[str, Any] = Field(default_factory=dict)


class Then(_Model):
    set: dict[str, Any] | None = None
    collect: Collect | None = None
    result: ResultAction | None = None
    call: dict[str, Any] | None = None
    retry: Retry | None = None
    next: list[NextTarget] | None = None
    fail: Fail | None = None
    skip: Skip | None = None
    sink: Sink | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "result" in data:
            raw = data["result"]
            if isinstance(raw, dict) and "from" in raw:
                if set(raw) != {"from"}:
                    raise ValueError("`result: {from: EXPR}` takes no other keys")
                data["result"] = {"from": raw["from"]}
            else:
                data["result"] = {"value": raw}
        # `retry:`, `fail:`, `skip:` and `call:` written with no value mean "with defaults".
        for key in ("retry", "fail", "skip", "call"):
            if key in data and data[key] is None:
                data[key] = {}
        if "next" in data:
            data["next"] = normalize_next(data["next"])
        return data

    def actions(self) -> list[str]:
        """The actions present, in the order they apply."""
        return [name for name in THEN_ACTIONS if getattr(self, name) is not None]


class CaseEntry(_Model):
    when: str
    then: list[Then]

    @field_validator("when", mode="before")
    @classmethod
    def _bool_when(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value

    @field_validator("then", mode="before")
    @classmethod
    def _single_then(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class StepConcurrency(_Model):
    """Step `concurrency` (DSL.md section 9): at most `limit` commands of this step, across
    all executions of the playbook's path, are leased at once."""

    limit: int = Field(gt=0, strict=True)


class PlaybookConcurrency(_Model):
    """Playbook `concurrency` (DSL.md section 9): at most `limit` executions with the same
    rendered `key` run at once; the rest wait as `queued`, in arrival order. The key is a
    template over `workload` and `execution_id`; with none, the playbook's path."""

    key: str | None = Field(default=None, min_length=1)
    limit: int = Field(gt=0, strict=True)


class Step(_Model):
    step: str = Field(min_length=1)
    desc: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    loop: Loop | None = None
    max_iterations: int = Field(default=1000, ge=1)
    timeout: float | None = Field(default=None, gt=0)  # seconds for the whole step run
    priority: int = 0  # added to the execution's priority; higher is leased first
    concurrency: StepConcurrency | None = None
    tool: Tool
    case: list[CaseEntry] = Field(default_factory=list)
    next: list[NextTarget] = Field(default_factory=list)

    @field_validator("next", mode="before")
    @classmethod
    def _normalize_next(cls, value: Any) -> Any:
        return normalize_next(value)

    @field_validator("args", "case", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any, info: Any) -> Any:
        if value is None:
            return {} if info.field_name == "args" else []
        return value


class Metadata(_Model):
    """name, path and version mean something here; anything else (labels, owner, ...) is
    the author's own and kept as written."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1)
    path: str = ""
    version: str | None = None
    description: str | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _path_defaults_to_name(self) -> Metadata:
        if not self.path:
            object.__setattr__(self, "path", self.name)
        return self


class WorkbookEntry(_Model):
    name: str = Field(min_length=1)
    desc: str | None = None
    tool: Tool


class Schedule(_Model):
    """One entry of `schedules:` (DSL.md section 9): a cron expression in a timezone, or
    a period in seconds; each tick starts one execution with `workload`."""

    name: str | None = Field(default=None, min_length=1)
    cron: str | None = None
    every: float | None = Field(default=None, gt=0)
    timezone: str = "UTC"
    workload: dict[str, Any] = Field(default_factory=dict)
    overlap: Literal["skip", "allow", "queue"] = "skip"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a valid cron expression (e.g. '*/5 * * * *')")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (e.g. 'UTC', 'Europe/Paris')") from None
        return value

    @model_validator(mode="after")
    def _cron_or_every(self) -> Schedule:
        if (self.cron is None) == (self.every is None):
            raise ValueError("a schedule needs exactly one of `cron` or `every`")
        return self


class Playbook(_Model):
    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: Metadata
    workload: dict[str, Any] = Field(default_factory=dict)
    workbook: list[WorkbookEntry] = Field(default_factory=list)
    workflow: list[Step] = Field(min_length=1)
    timeout: float | None = Field(default=None, gt=0)  # seconds for the whole execution
    schedules: list[Schedule] = Field(default_factory=list)
    concurrency: PlaybookConcurrency | None = None
    # How long its finished executions are kept (e.g. `7d`); NOETL_RETENTION when absent.
    retention: str | None = None

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str | None) -> str | None:
        return None if value is None else check_retention(value, where="retention")

    @model_validator(mode="after")
    def _schedule_names(self) -> Playbook:
        names = [s.name or str(i + 1) for i, s in enumerate(self.schedules)]
        if len(set(names)) != len(names):
            raise ValueError(f"schedule names must be unique, not {names}")
        return self

    @field_validator("api_version")
    @classmethod
    def _v2(cls, value: str) -> str:
        if value != API_VERSION:
            hint = "; run `noetl-pg migrate` to convert a v1 playbook" if "v1" in value else ""
            raise ValueError(f"apiVersion must be {API_VERSION!r}, not {value!r}{hint}")
        return value

    @field_validator("kind")
    @classmethod
    def _playbook_kind(cls, value: str) -> str:
        if value != "Playbook":
            raise ValueError(f"kind must be 'Playbook', not {value!r}")
        return value

    @field_validator("workload", mode="before")
    @classmethod
    def _null_workload(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("workbook", mode="before")
    @classmethod
    def _null_workbook(cls, value: Any) -> Any:
        return [] if value is None else value

    @cached_property
    def steps(self) -> dict[str, Step]:
        return {s.step: s for s in self.workflow}

    def step(self, name: str) -> Step:
        try:
            return self.steps[name]
        except KeyError:
            raise KeyError(f"playbook {self.metadata.path!r} has no step {name!r}") from None

    @cached_property
    def _workbook_by_name(self) -> dict[str, WorkbookEntry]:
        return {entry.name: entry for entry in self.workbook}

    def workbook_tool(self, name: str) -> Tool:
        try:
            return self._workbook_by_name[name].tool
        except KeyError:
            raise KeyError(
                f"playbook {self.metadata.path!r} has no workbook entry {name!r}"
            ) from None
