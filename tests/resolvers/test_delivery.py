"""resendCommentEmail: refusals are typed, and two agents resending at once send one mail."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mailscanner.models import DeliveryStatus, OutboundEmail
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.inprocess import InProcessQueue
from mailscanner.workers.queue import set_queue
from mailscanner.workers.settings import build_functions

from ..fixtures.smtp import OutboxScene
from .conftest import Api

RESEND = """
mutation($c: ID!) { resendCommentEmail(commentId: $c) {
  __typename
  ... on CommentPayload { comment { id delivery { status } } }
  ... on ResendRefusedError { code status message }
  ... on NotFoundError { id }
} }"""


@pytest.fixture
async def queue(outbox_scene: OutboxScene) -> AsyncIterator[InProcessQueue]:
    runner = InProcessQueue(build_functions(JobsConfig()), ctx={"settings": outbox_scene.settings})
    set_queue(runner)
    try:
        yield runner
    finally:
        set_queue(None)
        await runner.close()


async def _resend(api: Api, comment_id: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await api.gql(RESEND, {"c": str(comment_id)}, token="agent"))[
        "resendCommentEmail"]
    return result


@pytest.mark.parametrize("status, code", [(DeliveryStatus.QUEUED, "IN_PROGRESS"),
                                          (DeliveryStatus.SENDING, "IN_PROGRESS"),
                                          (DeliveryStatus.SENT, "ALREADY_SENT")])
async def test_a_delivery_that_did_not_fail_is_not_resent(
    api: Api, outbox_scene: OutboxScene, queue: InProcessQueue, status: DeliveryStatus, code: str
) -> None:
    comment, outbound = await outbox_scene.comment()
    assert outbound is not None
    await OutboundEmail.filter(id=outbound.id).update(status=status)
    result = await _resend(api, comment.id)
    assert result["__typename"] == "ResendRefusedError"
    assert (result["code"], result["status"]) == (code, status.name)
    assert (await OutboundEmail.get(id=outbound.id)).status == status


async def test_an_internal_comment_or_unknown_id_cannot_be_resent(
    api: Api, outbox_scene: OutboxScene, queue: InProcessQueue
) -> None:
    internal, _ = await outbox_scene.comment(internal=True)
    assert (await _resend(api, internal.id))["code"] == "NOT_EMAILED"
    assert (await _resend(api, 999))["__typename"] == "NotFoundError"


async def test_two_agents_resending_at_once_send_one_email(
    api: Api, outbox_scene: OutboxScene, queue: InProcessQueue
) -> None:
    # given: a comment email that failed for good
    comment, outbound = await outbox_scene.comment()
    assert outbound is not None
    await OutboundEmail.filter(id=outbound.id).update(
        status=DeliveryStatus.FAILED, attempts=1, last_error="535 authentication failed")
    # when: two resends race
    results = await asyncio.gather(_resend(api, comment.id), _resend(api, comment.id))
    await queue.join()
    # then: one was queued, the other told it is in progress; one mail went out
    kinds = sorted(r["__typename"] for r in results)
    assert kinds == ["CommentPayload", "ResendRefusedError"]
    assert [r["code"] for r in results if "code" in r] == ["IN_PROGRESS"]
    [mail] = await outbox_scene.server.wait_for(1)
    assert len(outbox_scene.server.received()) == 1
    row = await OutboundEmail.get(id=outbound.id)
    assert (row.status, row.attempts, row.resent_at_attempt) == (DeliveryStatus.SENT, 2, 1)


async def test_a_bounced_email_is_resent_to_the_contact_s_corrected_address(
    api: Api, outbox_scene: OutboxScene, queue: InProcessQueue
) -> None:
    # given: the email was accepted, then bounced: the contact's address was wrong
    comment, outbound = await outbox_scene.comment()
    assert outbound is not None
    await OutboundEmail.filter(id=outbound.id).update(status=DeliveryStatus.BOUNCED, attempts=1)
    outbox_scene.contact.email = "eve@example.org"
    await outbox_scene.contact.save()
    # when
    assert (await _resend(api, comment.id))["__typename"] == "CommentPayload"
    await queue.join()
    # then
    [mail] = await outbox_scene.server.wait_for(1)
    assert mail.rcpt_tos == ["eve@example.org"]
    assert (await OutboundEmail.get(id=outbound.id)).status == DeliveryStatus.SENT


async def test_an_email_never_rendered_is_rendered_when_resent(
    api: Api, outbox_scene: OutboxScene, queue: InProcessQueue
) -> None:
    # given: a comment on a ticket without contact (nobody to send to, nothing rendered)
    ticket = outbox_scene.ticket
    ticket.contact = None
    await ticket.save()
    comment, outbound = await outbox_scene.comment("The part has arrived.")
    assert outbound is not None and outbound.reason is not None and outbound.text_body == ""
    # when: the ticket gets its contact back, and the email is resent
    ticket.contact = outbox_scene.contact
    await ticket.save()
    result = await _resend(api, comment.id)
    await queue.join()
    # then: the customer gets the email with the comment in it
    assert result["__typename"] == "CommentPayload"
    [mail] = await outbox_scene.server.wait_for(1)
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "The part has arrived." in text
    row = await OutboundEmail.get(id=outbound.id)
    assert row.status == DeliveryStatus.SENT and row.reason is None
