"""Shared fixtures: a PostgreSQL per test session and a fresh database per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from noetl_pg.store.db import connect
from tests.support.database import DatabaseFactory, server_dsn


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast-path",
        choices=("on", "off"),
        default="on",
        help="whether the workers the tests start apply their own call.done (on)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Workers the tests start, in process or as processes, read this (NOETL_FAST_PATH).
    os.environ["NOETL_FAST_PATH"] = "1" if config.getoption("--fast-path") == "on" else "0"


@pytest.fixture(scope="session")
def databases() -> Iterator[DatabaseFactory]:
    with server_dsn() as admin_dsn:
        factory = DatabaseFactory(admin_dsn)
        try:
            yield factory
        finally:
            factory.drop_all()


@pytest.fixture
def dsn(databases: DatabaseFactory) -> str:
    """A DSN of a database of this test's own, with the schema applied."""
    return databases.fresh()


@pytest.fixture
def conn(dsn: str):
    """An autocommit connection (dict rows) to this test's database."""
    with connect(dsn, autocommit=True) as connection:
        yield connection
