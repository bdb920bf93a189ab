"""The restart policy of the worker's side tasks, on its own (no database)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from noetl_pg.worker.watch import RestartPolicy, SideTaskFailed, reason, watched

log = logging.getLogger("test.watch")


def dying(times: int) -> tuple[list[int], object]:
    """A loop that raises its first `times` runs, then returns; and its run count."""
    runs: list[int] = []

    async def loop() -> None:
        runs.append(len(runs) + 1)
        if len(runs) <= times:
            raise RuntimeError(f"death {len(runs)}\nsecond line")

    return runs, loop


def test_a_loop_that_dies_is_run_again_until_it_returns(caplog):
    runs, loop = dying(3)
    with caplog.at_level(logging.ERROR, logger="test.watch"):
        asyncio.run(watched("probe", loop, RestartPolicy(restarts=3, delay=0), log))
    assert runs == [1, 2, 3, 4]
    assert [r.getMessage() for r in caplog.records] == [
        f"the probe died (RuntimeError: death {n}); restarting it"
        f" (death {n} of 3 allowed within 300 s)"
        for n in (1, 2, 3)
    ]


def test_one_death_too_many_stops_with_the_reason():
    runs, loop = dying(10)
    with pytest.raises(SideTaskFailed) as caught:
        asyncio.run(watched("probe", loop, RestartPolicy(restarts=2, delay=0), log))
    assert runs == [1, 2, 3]
    assert str(caught.value) == (
        "the probe died 3 times within 300 s; the last time of RuntimeError: death 3"
    )
    assert isinstance(caught.value.cause, RuntimeError)


def test_deaths_older_than_the_window_are_forgiven():
    runs, loop = dying(6)
    asyncio.run(watched("probe", loop, RestartPolicy(restarts=1, window=0.0, delay=0.001), log))
    assert runs == [1, 2, 3, 4, 5, 6, 7]


def test_cancelling_is_not_a_death():
    async def main() -> None:
        task = asyncio.create_task(
            watched("probe", lambda: asyncio.sleep(60), RestartPolicy(), log)
        )
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_a_reason_is_one_line():
    assert reason(ValueError("first\nsecond")) == "ValueError: first"
    assert reason(KeyError()) == "KeyError"
