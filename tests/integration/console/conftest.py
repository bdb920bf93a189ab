"""The gateway tests' fixtures: a real gateway on uvicorn against this test's database."""

from tests.integration.gateway.conftest import api, start_gateway

__all__ = ["api", "start_gateway"]
