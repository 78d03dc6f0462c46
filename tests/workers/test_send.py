"""The send job against a real aiosmtpd: exactly once, retries with backoff, permanent failure."""
from __future__ import annotations

import asyncio
import datetime as dt

import arq
import pytest

from mailscanner.models import DeliveryStatus, OutboundEmail, SmtpSettings
from mailscanner.outbound.outbox import delivery_for_comment, sweep_outbound
from mailscanner.transport.smtp_connections import SmtpConnections
from mailscanner.workers.runtime import start_embedded
from mailscanner.workers.send import MAX_ATTEMPTS, send_job_id, send_outbound

from ..fixtures.smtp import OutboxScene


async def _queued(scene: OutboxScene) -> OutboundEmail:
    _, outbound = await scene.comment("We replaced the toner.")
    assert outbound is not None
    return outbound


async def _make_due(outbound_id: int) -> None:
    await OutboundEmail.filter(id=outbound_id).update(
        next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))


async def test_queued_mail_is_sent_once_and_marked_sent(outbox_scene: OutboxScene) -> None:
    outbound = await _queued(outbox_scene)

    assert await send_outbound({}, outbound.id) == "sent"

    [mail] = await outbox_scene.server.wait_for(1)
    assert mail.tls and mail.auth_user == outbox_scene.server.user
    assert mail.rcpt_tos == ["eve@example.com"]
    msg = mail.message
    assert msg["Subject"] == "[TT7] Printer on fire"
    assert msg["From"] == "Acme Support <support@helpdesk.test>"
    assert msg["Message-ID"] == outbound.message_id
    assert msg["References"] == "<first@example.com>"
    delivery = await delivery_for_comment(outbound.comment_id)  # type: ignore[attr-defined]
    assert delivery is not None and delivery.status == DeliveryStatus.SENT
    assert delivery.sent_at is not None and delivery.attempts == 1 and delivery.last_error is None


async def test_running_the_job_again_never_sends_twice(outbox_scene: OutboxScene) -> None:
    outbound = await _queued(outbox_scene)
    assert await send_outbound({}, outbound.id) == "sent"
    assert await send_outbound({}, outbound.id) == "already-sent"
    assert len(outbox_scene.server.received()) == 1


async def test_concurrent_runs_of_the_same_job_send_exactly_once(outbox_scene: OutboxScene) -> None:
    outbound = await _queued(outbox_scene)
    results = await asyncio.gather(*(send_outbound({}, outbound.id) for _ in range(4)))
    assert sorted(results).count("sent") == 1
    await asyncio.sleep(0.2)  # give a wrongly duplicated delivery time to show up
    assert len(outbox_scene.server.received()) == 1


async def test_smtp_down_retries_with_backoff_then_sends_once(outbox_scene: OutboxScene) -> None:
    # given: the SMTP server is down
    outbound = await _queued(outbox_scene)
    outbox_scene.server.stop()
    # when
    assert await send_outbound({}, outbound.id) == "retry"
    # then: still queued, with the reason and a later attempt time
    row = await OutboundEmail.get(id=outbound.id)
    assert row.status == DeliveryStatus.QUEUED and row.attempts == 1
    assert row.last_error is not None and "refused the connection" in row.last_error
    assert row.next_attempt_at is not None
    first_wait = row.next_attempt_at - dt.datetime.now(dt.UTC)
    assert first_wait > dt.timedelta(seconds=20)
    assert await send_outbound({}, outbound.id) == "not-due"
    assert await sweep_outbound() == []
    # a second failure waits longer (exponential backoff)
    await _make_due(outbound.id)
    assert await send_outbound({}, outbound.id) == "retry"
    row = await OutboundEmail.get(id=outbound.id)
    assert row.attempts == 2 and row.next_attempt_at is not None
    assert row.next_attempt_at - dt.datetime.now(dt.UTC) > first_wait
    # when the server is back and the retry is due
    outbox_scene.server.start()
    await _make_due(outbound.id)
    assert await sweep_outbound() == [outbound.id]
    assert await send_outbound({}, outbound.id) == "sent"
    assert await send_outbound({}, outbound.id) == "already-sent"
    assert len(outbox_scene.server.received()) == 1
    row = await OutboundEmail.get(id=outbound.id)
    assert row.status == DeliveryStatus.SENT and row.attempts == 3


async def test_under_arq_a_temporary_failure_raises_retry(outbox_scene: OutboxScene) -> None:
    outbound = await _queued(outbox_scene)
    outbox_scene.server.stop()
    with pytest.raises(arq.Retry) as info:
        await send_outbound({"job_try": 1, "send_retry_base_s": 2.0}, outbound.id)
    assert info.value.defer_score == 2000
    row = await OutboundEmail.get(id=outbound.id)
    assert row.status == DeliveryStatus.QUEUED


async def test_wrong_password_fails_permanently_with_the_reason(outbox_scene: OutboxScene) -> None:
    outbox_scene.smtp.set_password("wrong")
    await outbox_scene.smtp.save()
    outbound = await _queued(outbox_scene)

    assert await send_outbound({}, outbound.id) == "failed"

    row = await OutboundEmail.get(id=outbound.id)
    assert row.status == DeliveryStatus.FAILED and row.next_attempt_at is None
    assert row.last_error is not None and "rejected the login" in row.last_error
    assert await send_outbound({}, outbound.id) == "failed"
    assert outbox_scene.server.received() == []


async def test_refused_recipient_fails_permanently(outbox_scene: OutboxScene) -> None:
    outbox_scene.contact.email = "reject-eve@example.com"
    await outbox_scene.contact.save()
    outbound = await _queued(outbox_scene)
    assert await send_outbound({}, outbound.id) == "failed"
    row = await OutboundEmail.get(id=outbound.id)
    assert row.last_error is not None and "550" in row.last_error


async def test_temporary_failures_give_up_after_the_last_attempt(outbox_scene: OutboxScene) -> None:
    outbound = await _queued(outbox_scene)
    outbox_scene.server.stop()
    await OutboundEmail.filter(id=outbound.id).update(attempts=MAX_ATTEMPTS - 1)
    assert await send_outbound({}, outbound.id) == "failed"
    row = await OutboundEmail.get(id=outbound.id)
    assert row.status == DeliveryStatus.FAILED
    assert row.last_error is not None and row.last_error.startswith(f"Gave up after {MAX_ATTEMPTS}")


async def test_missing_smtp_settings_keep_the_mail_queued(outbox_scene: OutboxScene) -> None:
    outbound = await _queued(outbox_scene)
    await SmtpSettings.all().delete()
    assert await send_outbound({}, outbound.id) == "retry"
    row = await OutboundEmail.get(id=outbound.id)
    assert row.status == DeliveryStatus.QUEUED
    assert row.last_error is not None and "not configured" in row.last_error


async def test_a_live_lease_blocks_and_an_expired_lease_is_taken_over(
        outbox_scene: OutboxScene) -> None:
    outbound = await _queued(outbox_scene)
    now = dt.datetime.now(dt.UTC)
    await OutboundEmail.filter(id=outbound.id).update(
        status=DeliveryStatus.SENDING, attempts=1, next_attempt_at=now + dt.timedelta(minutes=5))
    assert await send_outbound({}, outbound.id) == "in-progress"
    assert await sweep_outbound() == []
    # the worker holding the lease died: after expiry the row is swept and sent
    await OutboundEmail.filter(id=outbound.id).update(next_attempt_at=now - dt.timedelta(seconds=1))
    assert await sweep_outbound() == [outbound.id]
    assert await send_outbound({}, outbound.id) == "sent"
    assert len(outbox_scene.server.received()) == 1


async def test_missing_row_is_reported(outbox_scene: OutboxScene) -> None:
    assert await send_outbound({}, 987654) == "missing"


async def test_job_runner_retries_until_the_server_is_back_and_sends_once(
        outbox_scene: OutboxScene) -> None:
    # given: the real in-process job runner with send_outbound registered, SMTP down
    from mailscanner.workers.config import JobsConfig
    from mailscanner.workers.inprocess import InProcessQueue
    from mailscanner.workers.queue import set_queue
    from mailscanner.workers.send import requeue_outbound
    from mailscanner.workers.settings import build_functions

    queue = InProcessQueue(build_functions(JobsConfig()), ctx={"send_retry_base_s": 0.3})
    set_queue(queue)
    try:
        outbound = await _queued(outbox_scene)
        outbox_scene.server.stop()
        # when: the sweep enqueues it (twice: the job id dedupes the second)
        assert await requeue_outbound() == 1
        assert await requeue_outbound() == 0
        for _ in range(200):
            row = await OutboundEmail.get(id=outbound.id)
            if row.attempts >= 1 and row.status == DeliveryStatus.QUEUED:
                break
            await asyncio.sleep(0.02)
        assert row.last_error is not None and "refused the connection" in row.last_error
        outbox_scene.server.start()
        await queue.join()
        # then
        row = await OutboundEmail.get(id=outbound.id)
        assert row.status == DeliveryStatus.SENT and row.attempts >= 2
        assert len(outbox_scene.server.received()) == 1
    finally:
        set_queue(None)
        await queue.close()


async def test_sent_and_failed_mails_are_announced_after_the_fact(
        outbox_scene: OutboxScene) -> None:
    from mailscanner import events

    received: list[dict[str, object]] = []

    async def listen() -> None:
        async for event in events.subscribe(events.TICKETS_CHANNEL):
            received.append(event)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)  # let the subscription start
    try:
        ok = await _queued(outbox_scene)
        await send_outbound({}, ok.id)
        outbox_scene.contact.email = "reject-eve@example.com"
        await outbox_scene.contact.save()
        bad = await _queued(outbox_scene)
        await send_outbound({}, bad.id)
        await asyncio.sleep(0.05)
    finally:
        listener.cancel()
    kinds = [(e["kind"], e.get("outbound_id")) for e in received]
    assert kinds == [("comment_email_sent", ok.id), ("comment_email_failed", bad.id)]
    assert received[1]["comment_id"] == bad.comment_id  # type: ignore[attr-defined]
    assert "550" in str(received[1]["reason"])


async def test_a_burst_goes_out_over_one_login_and_new_settings_log_in_again(
        outbox_scene: OutboxScene) -> None:
    # given: a job runner's open connections, and three comment emails
    connections = SmtpConnections()
    ctx = {"smtp_connections": connections}
    try:
        rows = [(await outbox_scene.comment(f"Update {n}"))[1] for n in range(3)]
        # when: they are sent one after the other
        assert [await send_outbound(ctx, r.id) for r in rows if r] == ["sent"] * 3
        # and the admin then changes the SMTP password (to a wrong one)
        outbox_scene.smtp.set_password("not-the-password")
        await outbox_scene.smtp.save()
        _, fourth = await outbox_scene.comment("Update 3")
        assert fourth is not None
        # then: the open connection is not used with the new settings: they are tried
        assert await send_outbound(ctx, fourth.id) == "failed"
    finally:
        await connections.close()
    mails = outbox_scene.server.received()
    assert sorted(m.message["Subject"] for m in mails) == ["[TT7] Printer on fire"] * 3
    assert len({m.peer for m in mails}) == 1 and connections.opened == 1
    failed = await OutboundEmail.get(id=fourth.id)
    assert failed.status == DeliveryStatus.FAILED and "rejected" in (failed.last_error or "")


async def test_the_embedded_runner_reuses_connections_and_closes_them_when_it_stops(
        outbox_scene: OutboxScene) -> None:
    runner = await start_embedded(outbox_scene.settings, cron=False)
    try:
        rows = [(await outbox_scene.comment(f"Update {n}"))[1] for n in range(2)]
        for row in rows:
            assert row is not None
            await runner.queue.enqueue("send_outbound", row.id, job_id=send_job_id(row.id))
            await runner.queue.join()
    finally:
        await runner.stop()
    connections = runner.queue.ctx["smtp_connections"]
    assert isinstance(connections, SmtpConnections)
    assert connections.opened == 1 and connections.idle_count() == 0
    mails = await outbox_scene.server.wait_for(2)
    assert len({m.peer for m in mails}) == 1
