from __future__ import annotations

import asyncio
from typing import Any

from arq.cron import cron
from arq.worker import Retry, func

from mailscanner.workers.inprocess import CronLoop, InProcessQueue


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.gate = asyncio.Event()

    async def record(self, ctx: dict[str, Any], value: Any) -> None:
        self.calls.append(("record", value))

    async def blocked(self, ctx: dict[str, Any], value: Any) -> None:
        await self.gate.wait()
        self.calls.append(("blocked", value))

    async def flaky(self, ctx: dict[str, Any], fail_times: int) -> None:
        self.calls.append(("flaky", ctx["job_try"]))
        if ctx["job_try"] <= fail_times:
            raise Retry(defer=0.01)

    async def broken(self, ctx: dict[str, Any]) -> None:
        raise ValueError("boom")

    async def tick(self, ctx: dict[str, Any]) -> None:
        self.calls.append(("tick", ctx["score"]))


def make_queue(rec: Recorder, **kwargs: Any) -> InProcessQueue:
    functions = [
        func(rec.record, name="record"),
        func(rec.blocked, name="blocked"),
        func(rec.flaky, name="flaky", max_tries=3),
        func(rec.broken, name="broken"),
    ]
    return InProcessQueue(functions, {}, **kwargs)


async def test_a_job_runs_with_its_arguments() -> None:
    rec = Recorder()
    queue = make_queue(rec)
    assert await queue.enqueue("record", 42)
    await queue.join()
    assert rec.calls == [("record", 42)]
    assert queue.jobs_complete == 1


async def test_a_job_id_is_refused_while_queued_or_running_and_free_afterwards() -> None:
    rec = Recorder()
    queue = make_queue(rec)
    assert await queue.enqueue("blocked", 1, job_id="scan:1")
    await asyncio.sleep(0.01)  # running now, waiting on the gate
    assert not await queue.enqueue("blocked", 2, job_id="scan:1")
    assert await queue.enqueue("record", 3, job_id="scan:2")
    rec.gate.set()
    await queue.join()
    assert sorted(rec.calls) == [("blocked", 1), ("record", 3)]
    assert await queue.enqueue("record", 4, job_id="scan:1")
    await queue.join()
    assert rec.calls[-1] == ("record", 4)


async def test_a_deferred_job_waits_and_holds_its_id_meanwhile() -> None:
    rec = Recorder()
    queue = make_queue(rec)
    assert await queue.enqueue("record", "late", job_id="x", defer_seconds=0.2)
    assert await queue.enqueue("record", "now")
    await asyncio.sleep(0.05)
    assert rec.calls == [("record", "now")]
    assert not await queue.enqueue("record", "dup", job_id="x")
    await queue.join()
    assert rec.calls == [("record", "now"), ("record", "late")]


async def test_retry_runs_the_job_again_with_the_next_try_up_to_max_tries() -> None:
    rec = Recorder()
    queue = make_queue(rec)
    await queue.enqueue("flaky", 1)
    await queue.enqueue("flaky", 10)
    await queue.join()
    assert sorted(rec.calls) == sorted(
        [("flaky", 1), ("flaky", 2), ("flaky", 1), ("flaky", 2), ("flaky", 3)]
    )
    assert queue.jobs_complete == 1 and queue.jobs_failed == 1


async def test_a_failing_job_is_logged_and_the_queue_keeps_working() -> None:
    rec = Recorder()
    queue = make_queue(rec)
    await queue.enqueue("broken")
    await queue.enqueue("record", "after")
    await queue.join()
    assert queue.jobs_failed == 1
    assert rec.calls == [("record", "after")]


async def test_max_jobs_bounds_concurrency() -> None:
    rec = Recorder()
    queue = make_queue(rec, max_jobs=1)
    await queue.enqueue("blocked", 1)
    await queue.enqueue("record", 2)
    await asyncio.sleep(0.05)
    assert rec.calls == []  # the second job waits for the only slot
    rec.gate.set()
    await queue.join()
    assert rec.calls == [("blocked", 1), ("record", 2)]


async def test_close_cancels_running_jobs_and_frees_their_ids() -> None:
    rec = Recorder()
    queue = make_queue(rec)
    await queue.enqueue("blocked", 1, job_id="a")
    await asyncio.sleep(0.01)
    await queue.close()
    assert queue.pending() == 0
    assert rec.calls == []


async def test_the_cron_loop_fires_each_slot_once_with_its_scheduled_time() -> None:
    rec = Recorder()
    tick = cron(rec.tick, name="tick", second=set(range(60)), microsecond=0)
    queue = InProcessQueue([tick], {})
    loop = CronLoop(queue, [tick])
    loop.start()
    while len(rec.calls) < 2:
        await asyncio.sleep(0.05)
    await loop.stop()
    await queue.join()
    slots = [score for _, score in rec.calls]
    assert slots == sorted(set(slots))
    assert all(score % 1000 == 0 for score in slots)  # whole seconds, as scheduled
    assert slots[1] - slots[0] == 1000


async def test_close_with_grace_lets_a_running_job_finish_and_cancels_a_stuck_one() -> None:
    rec = Recorder()
    queue = make_queue(rec)

    async def soon() -> None:
        await asyncio.sleep(0.05)
        rec.gate.set()

    await queue.enqueue("blocked", "finishes", job_id="a")
    stuck = Recorder()
    queue.functions["stuck"] = func(stuck.blocked, name="stuck")
    await queue.enqueue("stuck", "never", job_id="b")
    helper = asyncio.create_task(soon())
    await queue.close(grace=0.5)
    await helper
    assert rec.calls == [("blocked", "finishes")]
    assert stuck.calls == [] and queue.pending() == 0
