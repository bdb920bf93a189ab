"""Template rendering: one sandboxed Jinja2 environment, each template compiled once.

A string that is exactly one `{{ expr }}` yields the native value of `expr`; any other
string with `{{`/`{%` renders to text; strings without template markers are returned as
they are, without compiling anything.

Secrets never reach the engine: the engine binds `secret` to `SECRET_PLACEHOLDER`, so
`{{ secret.API_KEY }}` renders back to the literal text `{{ secret.API_KEY }}`; the worker
calls `resolve_secrets` at call time to replace those placeholders with real values.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from noetl_pg.dsl.render_limit import RenderTimeLimit, cpu_limited

__all__ = [
    "SECRET_PLACEHOLDER",
    "TemplateError",
    "cache_info",
    "clear_cache",
    "compile_check",
    "compile_count",
    "evaluate",
    "evaluate_when",
    "has_template",
    "render_value",
    "resolve_secrets",
]

COMPILE_CACHE_SIZE = 4096


class TemplateError(Exception):
    """A template failed to compile or render; names the template text and the cause."""

    def __init__(self, template: str, cause: str):
        self.template = template
        self.cause = cause
        super().__init__(f"template {_shorten(template)!r}: {cause}")


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- filters -------------------------------------------------------------------------


def _secret_guard(value: Any, filter_name: str) -> None:
    if isinstance(value, _SecretRef) or (isinstance(value, str) and "{{ secret" in value):
        raise ValueError(
            f"a secret cannot go through the `{filter_name}` filter: secrets are filled in "
            "by the worker at call time, after rendering; pass the secret as it is"
        )


def _tojson(value: Any, indent: int | None = None) -> str:
    _secret_guard(value, "tojson")
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def _fromjson(value: Any) -> Any:
    return json.loads(value)


def _b64encode(value: Any) -> str:
    _secret_guard(value, "b64encode")
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def _b64decode(value: Any) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"b64decode: not valid base64: {exc}") from None
    return raw.decode("utf-8", errors="replace")


# The most one operator in a template may build: characters or items, and bits of an
# integer power. Jinja's sandbox already caps range(); this caps `'x' * 10**9` and friends,
# so one playbook cannot exhaust the memory of the engine that renders it.
MAX_BUILT_LENGTH = 1_000_000
MAX_POWER_BITS = 4096


class _Environment(SandboxedEnvironment):
    """Jinja's sandbox, where a mapping's keys win over its methods, and operators cannot
    build unbounded values.

    Plain Jinja resolves `response.data.items` to the dict method `items`; playbooks mean
    the key, so for mappings the key is tried first.
    """

    intercepted_binops = frozenset({"*", "**", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int):
                    _bounded(len(seq) * max(count, 0), operator)
        elif operator == "+" and isinstance(left, str | list | tuple):
            if isinstance(right, str | list | tuple):
                _bounded(len(left) + len(right), operator)
        elif (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right * abs(left).bit_length() > MAX_POWER_BITS
        ):
            raise SecurityError(
                f"`**` would build an integer of about {right * abs(left).bit_length()} bits"
                f" (the limit is {MAX_POWER_BITS})"
            )
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)


def _bounded(length: int, operator: str) -> None:
    if length > MAX_BUILT_LENGTH:
        raise SecurityError(
            f"`{operator}` would build a value of {length} characters or items"
            f" (the limit is {MAX_BUILT_LENGTH})"
        )


def _make_environment() -> SandboxedEnvironment:
    env = _Environment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters.update(
        tojson=_tojson,
        fromjson=_fromjson,
        b64encode=_b64encode,
        b64decode=_b64decode,
    )
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False}
    return env


_ENV = _make_environment()


def environment() -> SandboxedEnvironment:
    """The one template environment (for tools that parse templates without running them)."""
    return _ENV


# --- compiling -----------------------------------------------------------------------

_SINGLE_EXPRESSION = re.compile(r"\A\s*\{\{(?P<expr>.*)\}\}\s*\Z", re.DOTALL)
_compiles = 0


def has_template(text: str) -> bool:
    """True when `text` holds template markup (`{{` or `{%`)."""
    return "{{" in text or "{%" in text


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A compiled string: a native expression (`{{ expr }}`) or a text template."""

    source: str
    expression: Callable[..., Any] | None = None
    template: Any = None

    def __call__(self, scope: Mapping[str, Any]) -> Any:
        if self.expression is not None:
            return _native(self.expression(**scope))
        if "{%" not in self.source:  # no statements, no loops: nothing to time
            return self.template.render(scope)
        with cpu_limited():
            return self.template.render(scope)


def _native(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # raises UndefinedError (or SecurityError)
    if isinstance(value, _SecretRef):
        return str(value)
    return value


@lru_cache(maxsize=COMPILE_CACHE_SIZE)
def _compile_template(text: str) -> _Compiled:
    """Compile a string holding `{{`/`{%` markup; raises TemplateSyntaxError."""
    global _compiles
    _compiles += 1
    match = _SINGLE_EXPRESSION.match(text)
    if match:
        expr = match.group("expr")
        if "{{" not in expr and "}}" not in expr and "{%" not in expr:
            return _Compiled(text, expression=_ENV.compile_expression(expr, False))
        if "{{" not in expr and "{%" not in expr:
            # `}}` inside, e.g. a dict literal `{{ {'a': {'b': 1}} }}`: try it as one expression.
            try:
                return _Compiled(text, expression=_ENV.compile_expression(expr, False))
            except TemplateSyntaxError:
                pass
    return _Compiled(text, template=_ENV.from_string(text))


@lru_cache(maxsize=COMPILE_CACHE_SIZE)
def _compile_expression(text: str) -> _Compiled:
    """Compile a bare expression such as `response.data.items`; raises TemplateSyntaxError."""
    global _compiles
    _compiles += 1
    return _Compiled(text, expression=_ENV.compile_expression(text, False))


def compile_count() -> int:
    """How many compilations have happened (cache misses), for tests and metrics."""
    return _compiles


def cache_info() -> dict[str, Any]:
    return {
        "templates": _compile_template.cache_info(),
        "expressions": _compile_expression.cache_info(),
        "compiles": _compiles,
    }


def clear_cache() -> None:
    _compile_template.cache_clear()
    _compile_expression.cache_clear()


def _syntax_message(exc: TemplateSyntaxError) -> str:
    line = f" (line {exc.lineno} of the template)" if exc.lineno and exc.lineno > 1 else ""
    return f"does not compile: {exc.message}{line}"


def compile_check(text: str, expression: bool = False) -> str | None:
    """The reason `text` does not compile, or None.

    With expression=True a string without `{{`/`{%` is checked as a bare expression (the
    form `when`, `collect.from`, `result.from` and `loop.in` accept).
    """
    try:
        if has_template(text):
            _compile_template(text)
        elif expression:
            _compile_expression(text)
    except TemplateSyntaxError as exc:
        return _syntax_message(exc)
    return None


def template_error_line(text: str, expression: bool = False) -> int | None:
    """The 1-based line inside `text` where compilation fails, when known."""
    try:
        if has_template(text):
            _compile_template(text)
        elif expression:
            _compile_expression(text)
    except TemplateSyntaxError as exc:
        return exc.lineno
    return None


# --- rendering -----------------------------------------------------------------------


def _run(compiled_for: Callable[[str], _Compiled], text: str, scope: Mapping[str, Any]) -> Any:
    try:
        compiled = compiled_for(text)
        return compiled(scope if isinstance(scope, dict) else dict(scope))
    except TemplateSyntaxError as exc:
        raise TemplateError(text, _syntax_message(exc)) from exc
    except SecurityError as exc:
        raise TemplateError(text, f"unsafe access refused by the sandbox: {exc}") from exc
    except TemplateError:
        raise
    except RenderTimeLimit as exc:
        raise TemplateError(text, str(exc)) from exc
    except Exception as exc:
        raise TemplateError(text, f"{type(exc).__name__}: {exc}") from exc


def _map_strings(value: Any, on_string: Callable[[str], Any]) -> Any:
    """`value` with every string in it (walking dicts, lists and tuples) replaced."""
    if isinstance(value, str):
        return on_string(value)
    if isinstance(value, dict):
        return {k: _map_strings(v, on_string) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, on_string) for v in value]
    if isinstance(value, tuple):
        return tuple(_map_strings(v, on_string) for v in value)
    return value


def render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render every string in `value` (walking dicts, lists and tuples) against `scope`."""

    def render(text: str) -> Any:
        return _run(_compile_template, text, scope) if has_template(text) else text

    return _map_strings(value, render)


def evaluate(expr: str, scope: Mapping[str, Any]) -> Any:
    """The native value of `expr`: a bare expression (`x + 1`) or a template (`{{ x }}`)."""
    if has_template(expr):
        return _run(_compile_template, expr, scope)
    return _run(_compile_expression, expr, scope)


_FALSE_TEXT = frozenset({"", "false", "0", "no", "none", "null"})


def evaluate_when(when: str, scope: Mapping[str, Any]) -> tuple[bool, str | None]:
    """Whether a rule's `when` holds; a `when` that raises is false, with the reason.

    A template that renders to text (not a single expression) is false when the text is
    empty, `false`, `0`, `no`, `none` or `null` (case-insensitive), true otherwise.
    """
    try:
        value = evaluate(when, scope)
        if isinstance(value, str):
            return value.strip().lower() not in _FALSE_TEXT, None
        return bool(value), None
    except TemplateError as exc:
        return False, f"when {_shorten(when)!r} counted as false: {exc.cause}"
    except Exception as exc:
        return False, f"when {_shorten(when)!r} counted as false: {type(exc).__name__}: {exc}"


# --- secrets -------------------------------------------------------------------------

_IDENT = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_SECRET_REF = re.compile(
    r"""\{\{\s*secret\s*(?:\.\s*(?P<attr>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|\[\s*(?P<q>['"])(?P<key>[^'"]+)(?P=q)\s*\])\s*\}\}"""
)


class _SecretRef:
    """What `secret.NAME` is on the engine side: it prints as its own placeholder."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __str__(self) -> str:
        if _IDENT.match(self.name):
            return "{{ secret." + self.name + " }}"
        return "{{ secret['" + self.name + "'] }}"

    __html__ = __str__

    def __repr__(self) -> str:
        return str(self)


class _SecretPlaceholder:
    """Bound as `secret` in the engine's scope; `secret.X` and `secret['X']` stay placeholders."""

    def __getattr__(self, name: str) -> _SecretRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return _SecretRef(name)

    def __getitem__(self, name: str) -> _SecretRef:
        return _SecretRef(str(name))

    def __repr__(self) -> str:
        return "<secret placeholder>"


SECRET_PLACEHOLDER = _SecretPlaceholder()


def resolve_secrets(value: Any, lookup: Callable[[str], str]) -> Any:
    """Fill the `{{ secret.NAME }}` placeholders left by engine-side rendering.

    Only those placeholders are replaced (by `lookup(NAME)`); the rest of each string is
    left as it is and is not rendered again. A missing secret raises TemplateError.
    """

    def fill(text: str) -> str:
        if "secret" not in text or "{{" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            name = match.group("attr") or match.group("key")
            try:
                secret = lookup(name)
            except KeyError:
                secret = None
            if secret is None:
                raise TemplateError(text, f"secret {name!r} is not defined")
            return str(secret)

        return _SECRET_REF.sub(replace, text)

    return _map_strings(value, fill)
