"""What a finished command reports (pure: no database, no processes)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from noetl_pg.dsl.render import TemplateError
from noetl_pg.worker import report
from noetl_pg.worker.report import REDACTED, failure, redact, success
from noetl_pg.worker.secrets import SecretLookup


def test_success_payload_has_response_and_duration():
    done = success({"a": [1, 2]}, 12, max_bytes=1000)
    assert done.ok
    assert json.loads(done.payload_json) == {"response": {"a": [1, 2]}, "duration_ms": 12}
    assert done.last_error is None


def test_result_over_the_limit_becomes_result_too_large():
    done = success("x" * 500, 3, max_bytes=100)
    assert not done.ok
    error = json.loads(done.payload_json)["error"]
    assert error["kind"] == "result_too_large"
    assert error["limit"] == 100
    assert "x" * 50 not in done.payload_json


def test_nan_and_unserialisable_results_are_result_not_json():
    for value in (float("nan"), {1, 2}):
        done = success(value, 1, max_bytes=1000)
        assert json.loads(done.payload_json)["error"]["kind"] == "result_not_json"


def test_nul_characters_cannot_be_stored_in_jsonb():
    done = success("a\x00b", 1, max_bytes=1000)
    assert json.loads(done.payload_json)["error"]["kind"] == "result_not_storable"


def test_failure_keeps_kind_and_details():
    done = failure({"kind": "sql", "message": "boom", "sqlstate": "42601"}, 5, max_bytes=1000)
    assert json.loads(done.payload_json) == {
        "error": {"kind": "sql", "message": "boom", "sqlstate": "42601"},
        "duration_ms": 5,
    }
    assert done.last_error == "sql: boom"
    assert done.kind == "sql"


def test_oversized_error_details_are_dropped_but_kind_and_status_stay():
    error = {"kind": "http_status", "message": "HTTP 500", "status": 500, "data": "x" * 5000}
    done = failure(error, 1, max_bytes=1000)
    kept = json.loads(done.payload_json)["error"]
    assert (kept["kind"], kept["status"], kept["message"]) == ("http_status", 500, "HTTP 500")
    assert "data" not in kept
    assert "details_dropped" in kept


def test_secrets_are_redacted_everywhere_in_the_payload():
    secrets = ["hunter22", "tok-123"]
    value = {"a": "Bearer tok-123", "hunter22": ["x hunter22 y", 3], "n": None}
    assert redact(value, secrets) == {
        "a": f"Bearer {REDACTED}",
        REDACTED: [f"x {REDACTED} y", 3],
        "n": None,
    }
    done = failure(
        {"kind": "transport", "message": "GET http://h/?k=hunter22"},
        1,
        max_bytes=1000,
        secrets=secrets,
    )
    assert "hunter22" not in done.payload_json
    assert "hunter22" not in done.last_error


@given(st.text(min_size=1).filter(lambda s: not set(s) & set(REDACTED)), st.text())
def test_redaction_never_leaves_the_secret(secret, text):
    assert secret not in redact([text + secret + text], [secret])[0]


def test_secret_lookup_reads_prefixed_env_and_remembers_values():
    lookup = SecretLookup({"NOETL_SECRET_API_KEY": "k1"}, allowed=["API_KEY", "api_key", "missing"])
    assert lookup("API_KEY") == "k1"
    assert lookup("api_key") == "k1"
    with pytest.raises(KeyError):
        lookup("missing")
    assert lookup.used == ["k1", "k1"]


def test_secret_lookup_refuses_names_the_step_does_not_name():
    lookup = SecretLookup({"NOETL_SECRET_API_KEY": "k1"}, allowed=["OTHER"])
    with pytest.raises(TemplateError, match="not named by this step"):
        lookup("API_KEY")
    assert lookup.used == []


def test_max_result_bytes_from_env():
    assert report.max_result_bytes_from_env({}) == 1024 * 1024
    assert report.max_result_bytes_from_env({"NOETL_MAX_RESULT_BYTES": "10"}) == 10
    with pytest.raises(ValueError, match="NOETL_MAX_RESULT_BYTES"):
        report.max_result_bytes_from_env({"NOETL_MAX_RESULT_BYTES": "lots"})
