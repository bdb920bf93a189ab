"""The template sandbox against known escape payloads, and the render CPU limit
(docs/security.md, "The trust model")."""

from __future__ import annotations

import threading

import pytest

from noetl_pg.dsl import TemplateError, evaluate_when, render_value

SCOPE = {"workload": {"name": "x"}, "items": [1, 2, 3]}

# Payloads from public Jinja2 SSTI write-ups: each must be refused or render to nothing
# that reaches Python internals.
ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ ''|attr('__class__') }}",
    "{{ (''|attr('__class__')|attr('__mro__'))[1] }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ [].pop.__self__.__class__ }}",
    "{{ workload.__class__.__init__.__globals__ }}",
    "{{ items.__class__.__mro__ }}",
    "{{ '{0.__class__.__mro__}'.format(1) }}",
    "{{ '%s'.__mod__.__self__.__class__ }}",
    "{% set x = ''.__class__ %}{{ x }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{{ url_for.__globals__ }}",
    "{{ get_flashed_messages.__globals__ }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_known_sandbox_escapes_are_refused(payload):
    with pytest.raises(TemplateError) as info:
        render_value(payload, SCOPE)
    assert payload[:20] in str(info.value)


@pytest.mark.parametrize("payload", ESCAPES)
def test_an_escape_in_a_when_is_false_with_the_reason(payload):
    holds, reason = evaluate_when(payload, SCOPE)
    assert holds is False
    assert reason


NESTED = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


def test_a_render_past_the_cpu_limit_stops_with_a_clear_error(monkeypatch):
    monkeypatch.setenv("NOETL_TEMPLATE_CPU_SECONDS", "0.2")
    with pytest.raises(TemplateError, match=r"more than 0.2 s of CPU .*NOETL_TEMPLATE_CPU_SECONDS"):
        render_value(NESTED, SCOPE)
    # the timer is gone afterwards: ordinary rendering goes on
    assert render_value("{% for a in items %}{{ a }}{% endfor %}", SCOPE) == "123"


def test_a_when_past_the_limit_is_false_with_the_reason(monkeypatch):
    monkeypatch.setenv("NOETL_TEMPLATE_CPU_SECONDS", "0.2")
    holds, reason = evaluate_when(NESTED + "yes", SCOPE)
    assert holds is False
    assert "of CPU" in reason


def test_off_the_main_thread_rendering_is_not_timed(monkeypatch):
    monkeypatch.setenv("NOETL_TEMPLATE_CPU_SECONDS", "0.01")
    small = "{% for a in range(20000) %}{% endfor %}done"
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(render_value(small, SCOPE)))
    thread.start()
    thread.join()
    assert results == ["done"]
