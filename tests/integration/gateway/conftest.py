"""Fixtures: a real gateway on uvicorn, on a free port, against this test's database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from noetl_pg.gateway import create_app
from tests.integration.gateway.support import serve

GatewayFactory = Callable[..., httpx.Client]


@pytest.fixture
def start_gateway(dsn: str) -> Iterator[GatewayFactory]:
    """Start a gateway (create_app keyword arguments) and return an httpx client for it."""
    with ExitStack() as stack:

        def start(**options: Any) -> httpx.Client:
            base_url = stack.enter_context(serve(create_app(dsn, **options)))
            return stack.enter_context(httpx.Client(base_url=base_url, timeout=90))

        yield start


@pytest.fixture
def api(start_gateway: GatewayFactory) -> httpx.Client:
    """A client of a gateway with no auth and the default limits."""
    return start_gateway()
