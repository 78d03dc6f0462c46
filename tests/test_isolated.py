"""Isolated worker processes: every limit is enforced whatever the code does, the worker that
hit it is replaced, and ordinary results and errors come back as they are."""
from __future__ import annotations

import asyncio

import pytest

from mailscanner.isolated import Limit, LimitExceeded, Limits, run_isolated, worker_pids

from . import isolated_work as work

LIMITS = Limits(cpu_s=1.0, wall_s=1.5, memory_mb=128)


@pytest.mark.parametrize(("fn", "args", "limit"), [
    (work.spin, (), Limit.TIME),
    (work.big_power, (), Limit.TIME),
    (work.hog_memory, (), Limit.MEMORY),
    (work.recurse, (0,), Limit.RECURSION),
])
async def test_each_limit_stops_the_call_and_names_itself(
        fn: object, args: tuple[object, ...], limit: Limit) -> None:
    with pytest.raises(LimitExceeded) as info:
        await run_isolated(fn, *args, limits=LIMITS)  # type: ignore[arg-type]
    assert info.value.limit == limit
    assert limit.value in info.value.message


async def test_a_worker_that_hit_a_limit_is_replaced_and_a_healthy_one_is_kept() -> None:
    # given: both workers running
    await asyncio.gather(*(run_isolated(work.pid, limits=LIMITS) for _ in range(4)))
    before = set(worker_pids())
    # when
    with pytest.raises(LimitExceeded):
        await run_isolated(work.spin, limits=LIMITS)
    # then: exactly one worker (the one that spun) is gone, and calls go on
    assert len(before - set(worker_pids())) == 1
    answers = await asyncio.gather(*(run_isolated(work.pid, limits=LIMITS) for _ in range(4)))
    assert set(answers) <= set(worker_pids()) and len(set(answers) & before) <= 1


async def test_an_error_raised_by_the_work_comes_back_as_itself() -> None:
    with pytest.raises(ValueError, match="bad input"):
        await run_isolated(work.fail, "bad input", limits=LIMITS)
    assert await run_isolated(work.pid, limits=LIMITS) > 0


async def test_a_call_that_waits_for_a_busy_worker_longer_than_it_may_run_is_refused() -> None:
    # given: every worker busy for a second (sleeping uses no CPU, so no limit stops it)
    from mailscanner.isolated import POOL_SIZE, WorkerFailed
    naps = [asyncio.ensure_future(run_isolated(work.nap, 1.0, limits=Limits(wall_s=5.0)))
            for _ in range(POOL_SIZE)]
    await asyncio.sleep(0.1)
    # when: one more call that may run for 0.2 s
    with pytest.raises(WorkerFailed, match="busy"):
        await run_isolated(work.pid, limits=Limits(wall_s=0.2))
    # then: the busy calls still finish, and a call that waits within its limit runs
    assert all(pid > 0 for pid in await asyncio.gather(*naps))
    assert await run_isolated(work.pid, limits=LIMITS) > 0
