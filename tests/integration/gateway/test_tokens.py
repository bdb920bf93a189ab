"""Tokens with roles: made and revoked by `noetl-pg token`, enforced by a real gateway."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration.gateway.support import HELLO, assert_error, count

START = {"name": "workflow.start", "path": "examples/hello"}


def token_cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "noetl_pg.cli", "token", *args],
        env={**os.environ, "NOETL_DSN": dsn},
        capture_output=True,
        text=True,
        timeout=120,
    )


def make_token(dsn: str, role: str) -> str:
    done = token_cli(dsn, "create", "--role", role, "--name", f"{role} for tests")
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[0]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(dsn: str) -> dict[str, str]:
    return {role: make_token(dsn, role) for role in ("admin", "client", "worker", "reader")}


def test_each_role_can_do_what_it_is_for_and_nothing_else(start_gateway, tokens, conn):
    api = start_gateway()
    admin, client, worker, reader = (
        bearer(tokens[r]) for r in ("admin", "client", "worker", "reader")
    )

    assert_error(api.get("/api/v2/playbooks"), 401, "unauthorized")  # a token exists: closed
    registered = api.post(
        "/api/v2/engine/register-playbook", json={"playbook_yaml": HELLO}, headers=admin
    )
    assert registered.status_code == 201, registered.text

    refused = api.post(
        "/api/v2/engine/register-playbook", json={"playbook_yaml": HELLO}, headers=client
    )
    assert "a client token cannot register" in assert_error(refused, 403, "forbidden")["message"]
    started = api.post("/api/v2/events", params={"wait": 0}, json=START, headers=client)
    assert started.status_code in (200, 202), started.text
    assert api.get("/api/v2/playbooks", headers=client).status_code == 200

    assert api.get("/api/v2/playbooks", headers=reader).status_code == 200
    refused = api.post("/api/v2/events", params={"wait": 0}, json=START, headers=reader)
    assert "a reader token cannot control" in assert_error(refused, 403, "forbidden")["message"]

    assert_error(api.get("/api/v2/playbooks", headers=worker), 403, "forbidden")
    assert_error(api.post("/api/v2/events", json=START, headers=worker), 403, "forbidden")
    assert count(conn, "event") == 1  # only the client's start got in


def test_a_revoked_token_stops_working_at_once(start_gateway, dsn, tokens):
    api = start_gateway()
    reader = bearer(tokens["reader"])
    assert api.get("/api/v2/playbooks", headers=reader).status_code == 200

    token_id = tokens["reader"].split("_")[1]
    revoked = token_cli(dsn, "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    error = assert_error(api.get("/api/v2/playbooks", headers=reader), 401, "unauthorized")
    assert "unknown or revoked" in error["message"]
    listed = token_cli(dsn, "list").stdout
    assert token_id in listed and "revoked" in listed
    assert token_cli(dsn, "revoke", "nosuchid").returncode == 1


def test_only_a_hash_of_the_secret_is_stored(dsn, conn):
    token = make_token(dsn, "client")
    rows = conn.execute("SELECT token_id, role, name, secret_hash FROM noetl.api_token").fetchall()
    (row,) = rows
    assert row["role"] == "client"
    secret = token.split("_", 2)[2]
    assert secret.encode() not in bytes(row["secret_hash"])
    assert len(bytes(row["secret_hash"])) == 32


@pytest.mark.parametrize(
    "presented",
    ["noetl_", "noetl_abc", "noetl_abc_wrong", "something-else", "noetl_%00_x"],
)
def test_malformed_or_wrong_tokens_are_401(start_gateway, tokens, presented):
    api = start_gateway()
    assert_error(api.get("/api/v2/playbooks", headers=bearer(presented)), 401, "unauthorized")


def test_the_deployment_token_is_an_admin_beside_stored_tokens(start_gateway, tokens):
    api = start_gateway(api_token="s3cret")
    registered = api.post(
        "/api/v2/engine/register-playbook",
        json={"playbook_yaml": HELLO},
        headers=bearer("s3cret"),
    )
    assert registered.status_code == 201
    assert api.get("/api/v2/playbooks", headers=bearer(tokens["reader"])).status_code == 200


def test_a_bad_role_is_a_usage_error(dsn):
    done = token_cli(dsn, "create", "--role", "root")
    assert done.returncode == 2
    assert "invalid choice: 'root'" in done.stderr


def test_only_worker_and_admin_tokens_reach_the_worker_endpoints(start_gateway, tokens):
    api = start_gateway()
    lease = {"worker_id": "w", "max": 1, "wait": 0}
    for role in ("client", "reader"):
        refused = api.post("/api/v2/workers/lease", json=lease, headers=bearer(tokens[role]))
        message = assert_error(refused, 403, "forbidden")["message"]
        assert f"a {role} token cannot work" in message
    for role in ("worker", "admin"):
        answered = api.post("/api/v2/workers/lease", json=lease, headers=bearer(tokens[role]))
        assert answered.status_code == 200, answered.text
        assert answered.json() == {"commands": []}
    assert_error(api.post("/api/v2/workers/lease", json=lease), 401, "unauthorized")
