"""The worker's queue over HTTP: the gateway's `/api/v2/workers/*` endpoints, no DSN.

A remote worker (`noetl-worker --gateway URL`) leases by long-polling: the gateway leases
at once when work is ready, or waits on its own LISTEN of the queue channel up to
`poll_interval` seconds. The commands a poll brings are kept here until the worker's next
`lease_commands` takes them, so fetching work costs one request. A gateway that cannot be
reached (refused, reset, 502/503/504) raises `QueueUnavailable`, which the worker retries
as it retries a database that is down; a token that may not work is a `WorkerRefused`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from noetl_pg.protocol.lease import (
    ChildReply,
    ChildRequest,
    ChildStart,
    HeldReply,
    Lease,
    LeasedCommand,
    LeaseRef,
    LeaseReply,
    LeaseRequest,
    LeasesRequest,
    QueueUnavailable,
    ReportRefused,
    ReportReply,
    WaitReply,
    WaitRequest,
)

GATEWAY_URL_ENV = "NOETL_GATEWAY_URL"
TOKEN_ENV = "NOETL_API_TOKEN"
DEFAULT_POLL_INTERVAL = 5.0
_UNAVAILABLE = frozenset({502, 503, 504})
_REQUEST_SECONDS = 30.0  # a request that is not a long-poll

Reply = TypeVar("Reply", bound=BaseModel)


class GatewayError(Exception):
    """The gateway answered something a worker cannot act on (a 500, say)."""


class WorkerRefused(Exception):
    """The gateway refused this worker (a bad token, a token of another role): retrying
    cannot help, so the worker stops with this message."""


class GatewayTransport:
    """`CommandTransport` over HTTP (see worker/transport.py)."""

    orchestrator = None  # no database of its own: a postgres step names its connection

    def __init__(
        self,
        url: str,
        worker_id: str,
        *,
        token: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        lease_seconds: float = 30.0,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self.url = url.rstrip("/")
        self.worker_id = worker_id
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self._http: httpx.AsyncClient | None = None
        self._ready: list[LeasedCommand] = []  # leased by a poll, not yet taken
        self._looked = False
        self._woken = asyncio.Event()  # a slot freed
        self._stopping = asyncio.Event()
        self._poll: asyncio.Task[list[LeasedCommand]] | None = None

    async def __aenter__(self) -> GatewayTransport:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(_REQUEST_SECONDS)
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._poll is not None:
            await _cancelled(self._poll)
        if self._ready:
            # Leased by the last poll but never started: give them back at once.
            with contextlib.suppress(QueueUnavailable, WorkerRefused, httpx.HTTPError):
                await self.release(command.lease for command in self._ready)
            self._ready = []
        if self._http is not None:
            await self._http.aclose()

    # --- leasing -------------------------------------------------------------------

    async def lease_commands(self, n: int, lease_seconds: float) -> list[LeasedCommand]:
        self.lease_seconds = lease_seconds
        if not self._looked:  # the first look: at once, so `ready` means something
            self._looked = True
            return await self._lease(n, wait=0.0)
        taken, self._ready = self._ready[:n], self._ready[n:]
        return taken

    async def wait_for_work(self, timeout: float, slots: int) -> bool:
        if slots <= 0 or self._ready:
            return await self._wait_woken(timeout)
        wait = max(0.0, min(timeout, self.poll_interval))
        self._poll = asyncio.create_task(self._lease(slots, wait=wait), name="lease-poll")
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({self._poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancelled(stopping)
        if not self._poll.done():
            # Stopping: cut the poll; the gateway gives back what it leased for nobody.
            await _cancelled(self._poll)
            self._poll = None
            return True
        poll, self._poll = self._poll, None
        self._ready.extend(poll.result())  # raises QueueUnavailable etc. to the lease loop
        return bool(self._ready)

    def wake(self) -> None:
        """A slot freed: a poll goes on (cutting it could strand what it leased)."""
        self._woken.set()

    def interrupt(self) -> None:
        """The worker is stopping: cut a poll short."""
        self._stopping.set()
        self._woken.set()

    async def _wait_woken(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._woken.wait(), timeout)
        except TimeoutError:
            return False
        self._woken.clear()
        return True

    async def _lease(self, n: int, *, wait: float) -> list[LeasedCommand]:
        request = LeaseRequest(
            worker_id=self.worker_id, max=n, lease_seconds=self.lease_seconds, wait=wait
        )
        reply = await self._post("lease", request, LeaseReply, timeout=wait + _REQUEST_SECONDS)
        return reply.commands

    # --- fenced writes -------------------------------------------------------------

    async def heartbeat(self, leases: Iterable[Lease], lease_seconds: float) -> set[int]:
        return await self._leases("heartbeat", leases, lease_seconds)

    async def release(self, leases: Iterable[Lease]) -> set[int]:
        return await self._leases("release", leases, self.lease_seconds)

    async def report(
        self, lease: Lease, *, ok: bool, payload_json: str, last_error: str | None
    ) -> int | None:
        # The payload is already JSON: put it in the body as it is, not decoded and re-encoded.
        head = {"lease": LeaseRef.of(lease).model_dump(), "ok": ok, "last_error": last_error}
        body = json.dumps(head)[:-1] + ', "payload": ' + payload_json + "}"
        response = await self._send("report", content=body)
        if response.status_code == 422:
            raise ReportRefused(_message(response))
        return _reply(response, ReportReply).event_id

    async def start_child_playbook(
        self, lease: Lease, child_execution_id: str, payload: dict[str, Any]
    ) -> ChildStart:
        request = ChildRequest(
            lease=LeaseRef.of(lease), child_execution_id=child_execution_id, payload=payload
        )
        reply = await self._post("child", request, ChildReply)
        return ChildStart(held=reply.held, event_id=reply.event_id)

    async def park_wait(
        self, lease: Lease, *, signal: str | None, after: float | None, until: datetime | None
    ) -> bool:
        request = WaitRequest(lease=LeaseRef.of(lease), signal=signal, after=after, until=until)
        return (await self._post("wait", request, WaitReply)).parked

    async def _leases(self, name: str, leases: Iterable[Lease], lease_seconds: float) -> set[int]:
        refs = [LeaseRef.of(lease) for lease in leases]
        if not refs:
            return set()
        request = LeasesRequest(leases=refs, lease_seconds=lease_seconds)
        return set((await self._post(name, request, HeldReply)).queue_ids)

    # --- HTTP ----------------------------------------------------------------------

    async def _post(
        self, name: str, request: BaseModel, reply: type[Reply], *, timeout: float | None = None
    ) -> Reply:
        response = await self._send(name, content=request.model_dump_json(), timeout=timeout)
        return _reply(response, reply)

    async def _send(
        self, name: str, *, content: str, timeout: float | None = None
    ) -> httpx.Response:
        assert self._http is not None, "use the transport inside `async with`"
        try:
            response = await self._http.post(
                f"/api/v2/workers/{name}",
                content=content,
                headers={"Content-Type": "application/json"},
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except httpx.TransportError as exc:
            raise QueueUnavailable(f"gateway {self.url} unreachable: {exc!r}") from exc
        if response.status_code in _UNAVAILABLE:
            raise QueueUnavailable(
                f"gateway {self.url} answered {response.status_code}: {_message(response)}"
            )
        if response.status_code in (401, 403):
            raise WorkerRefused(
                f"gateway {self.url} refused this worker ({response.status_code}):"
                f" {_message(response)}"
            )
        return response


def _reply(response: httpx.Response, reply: type[Reply]) -> Reply:
    if response.status_code != 200:
        raise GatewayError(
            f"gateway answered {response.status_code} to {response.request.url.path}:"
            f" {_message(response)}"
        )
    return reply.model_validate_json(response.content)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", body["error"]))
    return str(body)[:200]


async def _cancelled(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
