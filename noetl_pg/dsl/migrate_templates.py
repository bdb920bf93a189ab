"""Rewrite the template idioms of NoETL's later engines into this dialect (DSL.md section 7).

The rewrite works on the Jinja token stream (`Environment.lex`, whose token values put
back together give the source exactly), so string literals, text outside `{{ }}`/`{% %}`,
attribute names and filter names are never touched: only a *name* in expression position
that the template reads from its scope (Jinja's own `find_undeclared_variables`) is.

| idiom | becomes |
|-------|---------|
| `event.name == 'call.error'` (`!=`) | `event.name == 'call.done' and error is defined` (negated) |
| `loop_index` | `loop.index` |
| `job.uuid` | `execution_id` |
| `response.status_code`, `error.status_code` | `response.status`, `error.status` |
| `<step>.result.x`, `step.result.x` | `<step>.x`; in the step's own rules `result.x` |
| `vars.x` | `ctx.x` (`vars:` blocks become `set: {ctx: ...}`) |
| a bare step arg `x` | `args.x` |
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError, meta

from noetl_pg.protocol import EventName

from .render import environment, has_template

__all__ = ["TemplateScope", "rewrite_template"]

_FAILED_CALL = f"event.name == '{EventName.CALL_DONE}' and error is defined"
_OLD_FAILED_CALL_NAME = "call.error"
_BEGIN = ("variable_begin", "block_begin")
_END = ("variable_end", "block_end")


@dataclass(frozen=True)
class TemplateScope:
    """What a template may read where it stands, to tell an idiom from a real name."""

    step_names: frozenset[str] = frozenset()
    in_scope: frozenset[str] = frozenset()
    arg_names: frozenset[str] = frozenset()
    current_step: str | None = None
    # what the current step's own result is called here: `result` in its rules (where
    # its name still means its previous run), its name elsewhere
    own_result: str | None = None
    # name -> replacement text for names that mean something else at the new place
    renames: dict[str, str] = field(default_factory=dict)


def rewrite_template(text: str, scope: TemplateScope, *, expression: bool = False):
    """(new text, list of what changed); a template that does not parse is left as it is."""
    wrapped = expression and not has_template(text)
    source = "{{ " + text + " }}" if wrapped else text
    env = environment()
    try:
        tokens = list(env.lex(source))
        undeclared = meta.find_undeclared_variables(env.parse(source))
    except TemplateSyntaxError:
        return text, []
    rewriter = _Rewriter(tokens, undeclared, scope)
    out = rewriter.run()
    if wrapped:
        out = out[3:-3]
    return (out, rewriter.changes) if out != text else (text, [])


class _Rewriter:
    def __init__(self, tokens: list[tuple[int, str, str]], undeclared: set[str], scope):
        self.tokens = tokens
        self.undeclared = undeclared
        self.scope: TemplateScope = scope
        self.changes: list[str] = []

    def sig(self, index: int, step: int) -> int | None:
        """The index of the next significant token from `index` in direction `step`."""
        index += step
        while 0 <= index < len(self.tokens):
            if self.tokens[index][1] != "whitespace":
                return index
            index += step
        return None

    def is_(self, index: int | None, kind: str, value: str | None = None) -> bool:
        if index is None:
            return False
        _, token_kind, token_value = self.tokens[index]
        return token_kind == kind and (value is None or token_value == value)

    def note(self, before: str, after: str) -> None:
        change = f"`{before}` -> `{after}`"
        if change not in self.changes:
            self.changes.append(change)

    def run(self) -> str:
        out: list[str] = []
        index = 0
        while index < len(self.tokens):
            replaced = self.replace_at(index) if self.is_(index, "name") else None
            if replaced is None:
                out.append(self.tokens[index][2])
                index += 1
            else:
                text, index = replaced
                out.append(text)
        return "".join(out)

    def reads_variable(self, index: int) -> bool:
        """A name token that reads a variable: not an attribute, filter, test or kwarg."""
        name = self.tokens[index][2]
        before = self.sig(index, -1)
        if self.is_(before, "operator", ".") or self.is_(before, "operator", "|"):
            return False
        if self.is_(before, "name", "is") or (
            self.is_(before, "name", "not") and self.is_(self.sig(before, -1), "name", "is")
        ):
            return False
        if self.is_(self.sig(index, 1), "operator", "="):
            return False
        return name in self.undeclared

    def attribute(self, index: int) -> tuple[str, int] | None:
        """`.attr` after the token at index: (attr, index of the attr token)."""
        dot = self.sig(index, 1)
        if self.is_(dot, "operator", "."):
            attr = self.sig(dot, 1)
            if self.is_(attr, "name"):
                return self.tokens[attr][2], attr
        return None

    def replace_at(self, index: int) -> tuple[str, int] | None:
        if not self.reads_variable(index):
            return None
        name = self.tokens[index][2]
        attr = self.attribute(index)
        scope = self.scope
        if name == "event" and attr and attr[0] == "name":
            return self.failed_call(index, attr[1])
        if name == "job" and attr and attr[0] == "uuid" and "job" not in scope.in_scope:
            self.note("job.uuid", "execution_id")
            return "execution_id", attr[1] + 1
        if name in ("response", "error") and attr and attr[0] == "status_code":
            self.note(f"{name}.status_code", f"{name}.status")
            return f"{name}.status", attr[1] + 1
        own = scope.own_result or scope.current_step
        if attr and attr[0] == "result" and name in scope.step_names:
            text = own if name == scope.current_step and own else name
            self.note(f"{name}.result", text)
            return text, attr[1] + 1
        if name == "step" and attr and attr[0] == "result" and own:
            self.note("step.result", own)
            return own, attr[1] + 1
        if name == "vars" and "vars" not in scope.in_scope:
            self.note("vars", "ctx")
            return "ctx", index + 1
        if name == "loop_index" and name not in scope.in_scope:
            self.note("loop_index", "loop.index")
            return "loop.index", index + 1
        if name in scope.renames:
            self.note(name, scope.renames[name])
            return scope.renames[name], index + 1
        if name in scope.arg_names and name not in scope.in_scope:
            self.note(name, f"args.{name}")
            return f"args.{name}", index + 1
        return None

    def failed_call(self, index: int, attr_index: int) -> tuple[str, int] | None:
        """`event.name == 'call.error'` (or `!=`) as the failed call of this dialect."""
        operator = self.sig(attr_index, 1)
        literal = self.sig(operator, 1) if operator is not None else None
        if not (
            self.is_(operator, "operator", "==") or self.is_(operator, "operator", "!=")
        ) or not self.is_(literal, "string"):
            return None
        assert operator is not None and literal is not None
        if self.tokens[literal][2][1:-1] != _OLD_FAILED_CALL_NAME:
            return None
        negated = self.tokens[operator][2] == "!="
        whole = self.is_(self.sig(index, -1), "variable_begin") and any(
            self.is_(self.sig(literal, 1), kind) for kind in _END
        )
        text = _FAILED_CALL if whole and not negated else f"({_FAILED_CALL})"
        if negated:
            text = "not " + text
        before = "".join(t[2] for t in self.tokens[index : literal + 1])
        self.note(before, text)
        return text, literal + 1
