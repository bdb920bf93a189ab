"""The store's refusals: one hierarchy, each message its class's docstring filled in."""

from __future__ import annotations

import re

import pytest

from noetl_pg.gateway.errors import STORE_REFUSALS
from noetl_pg.store import errors
from noetl_pg.store.control import new_execution_id
from noetl_pg.store.idempotency import request_fingerprint


def refusal_classes() -> list[type[errors.StoreError]]:
    found, todo = [], [errors.StoreError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [cls for cls in found if cls is not errors.StoreError]


def test_messages_name_what_was_refused():
    assert str(errors.PlaybookNotFound("a/b")) == "no playbook 'a/b' is registered"
    assert str(errors.PlaybookNotFound("a/b", 3)) == "no playbook 'a/b' version 3 is registered"
    assert str(errors.ExecutionExists("exec-1")) == "execution 'exec-1' was already started"
    assert str(errors.ExecutionNotFound("exec-1")) == "no execution 'exec-1'"
    finished = errors.ExecutionFinished("exec-1", "cancelled")
    assert str(finished) == "execution 'exec-1' is already cancelled"
    assert finished.details == {"execution_id": "exec-1", "status": "cancelled"}


def test_a_lease_refusal_names_the_reporter_and_details_the_holder():
    command = {"status": "leased", "assigned_worker_id": "w2", "attempt": 2}
    refusal = errors.LeaseNotHeld(7, "w1", 1, command)
    assert str(refusal) == (
        "worker 'w1' (attempt 1) does not hold the lease of command 7; nothing was recorded"
    )
    assert refusal.details == {
        "queue_id": 7,
        "status": "leased",
        "assigned_worker_id": "w2",
        "attempt": 2,
    }
    missing = errors.CommandNotFound(8)
    assert isinstance(missing, errors.LeaseNotHeld)
    assert (str(missing), missing.details) == ("no command 8", {"queue_id": 8})


def test_a_reused_key_says_what_to_do():
    refusal = errors.IdempotencyKeyReused("k1")
    assert str(refusal).startswith("Idempotency-Key 'k1' was first used for a different request")
    assert refusal.details == {"header": "Idempotency-Key"}


@pytest.mark.parametrize("cls", refusal_classes(), ids=lambda cls: cls.__name__)
def test_every_refusal_has_a_message_and_an_http_answer(cls):
    assert cls.__doc__ and cls.__doc__.strip()
    assert any(base in STORE_REFUSALS for base in cls.__mro__), f"{cls.__name__} has no answer"


def test_generated_execution_ids_look_like_the_table_default():
    assert re.fullmatch(r"exec-[0-9a-f]{32}", new_execution_id())
    assert new_execution_id() != new_execution_id()


def test_a_fingerprint_ignores_key_order_but_not_values_or_target():
    first = request_fingerprint("/api/v2/events", {"a": 1, "b": {"c": [1, 2]}})
    assert first == request_fingerprint("/api/v2/events", {"b": {"c": [1, 2]}, "a": 1})
    assert first != request_fingerprint("/api/v2/events", {"a": 2, "b": {"c": [1, 2]}})
    assert first != request_fingerprint("/api/v2/other", {"a": 1, "b": {"c": [1, 2]}})
