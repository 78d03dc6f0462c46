"""Queueing a comment email (outbox row) and building the message: threading and header safety."""
from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

import pytest

from mailscanner.mail.reply import DEFAULT_MARKER
from mailscanner.models import (
    TICKET_COMMENT_TEMPLATE,
    Comment,
    CommentSource,
    DeliveryReason,
    DeliveryStatus,
    EmailTemplate,
    OutboundEmail,
)
from mailscanner.outbound.compose import InvalidAddress, build_message, format_recipient
from mailscanner.outbound.outbox import ensure_default_templates, sweep_outbound
from mailscanner.outbound.threading import ticket_number_from_message_id

from ..fixtures.smtp import OutboxScene


async def test_agent_comment_queues_a_threaded_mail_to_the_contact(
        outbox_scene: OutboxScene) -> None:
    # given: the customer's original mail and one reply of theirs that came in by email
    ticket = outbox_scene.ticket
    await Comment.create(ticket=ticket, body="Still broken", source=CommentSource.EMAIL,
                         author_contact=outbox_scene.contact, message_id="<reply1@example.com>")
    # when
    comment, outbound = await outbox_scene.comment("We replaced the toner.")
    # then
    assert outbound is not None and outbound.status == DeliveryStatus.QUEUED
    assert outbound.comment_id == comment.id  # type: ignore[attr-defined]
    assert outbound.recipients == ["Eve Example <eve@example.com>"]
    assert outbound.subject == "[TT7] Printer on fire"
    assert outbound.text_body.splitlines()[0] == DEFAULT_MARKER
    assert "We replaced the toner." in outbound.text_body and "Still broken" in outbound.text_body
    assert outbound.text_body.index("We replaced") < outbound.text_body.index("Still broken")
    assert ticket_number_from_message_id(outbound.message_id, "helpdesk.test") == "TT7"
    assert outbound.references == ["<first@example.com>", "<reply1@example.com>"]
    assert outbound.in_reply_to == "<reply1@example.com>"


async def test_a_second_comment_references_our_first_mail_too(outbox_scene: OutboxScene) -> None:
    _, first = await outbox_scene.comment("one")
    _, second = await outbox_scene.comment("two")
    assert first is not None and second is not None
    assert second.references == ["<first@example.com>", first.message_id]
    assert second.in_reply_to == first.message_id


async def test_internal_comment_is_never_emailed(outbox_scene: OutboxScene) -> None:
    _, outbound = await outbox_scene.comment("note to self", internal=True)
    assert outbound is None
    assert await OutboundEmail.all().count() == 0


async def test_no_contact_means_a_failed_delivery_saying_no_recipient(
        outbox_scene: OutboxScene) -> None:
    outbox_scene.ticket.contact = None
    await outbox_scene.ticket.save()
    _, outbound = await outbox_scene.comment()
    assert outbound is not None and outbound.status == DeliveryStatus.FAILED
    assert outbound.reason == DeliveryReason.NO_RECIPIENT and outbound.recipients == []
    assert "no contact" in (outbound.last_error or "")
    assert await sweep_outbound() == []  # never sent


async def test_invalid_contact_address_is_skipped_not_sent(outbox_scene: OutboxScene) -> None:
    outbox_scene.contact.email = "eve@@example"
    await outbox_scene.contact.save()
    _, outbound = await outbox_scene.comment()
    assert outbound is not None and outbound.status == DeliveryStatus.FAILED
    assert outbound.reason == DeliveryReason.NO_RECIPIENT


async def test_send_to_can_include_the_assignee(outbox_scene: OutboxScene) -> None:
    await ensure_default_templates()
    await EmailTemplate.filter(key=TICKET_COMMENT_TEMPLATE).update(
        send_to=["contact_email", "assignee_email"])
    outbox_scene.ticket.assignee = outbox_scene.agent
    await outbox_scene.ticket.save()
    _, outbound = await outbox_scene.comment()
    assert outbound is not None
    assert outbound.recipients == ["Eve Example <eve@example.com>",
                                   "Alice Agent <alice@helpdesk.test>"]


async def test_edited_template_is_used_and_ticket_number_is_kept_in_the_subject(
        outbox_scene: OutboxScene) -> None:
    await ensure_default_templates()
    await EmailTemplate.filter(key=TICKET_COMMENT_TEMPLATE).update(
        subject="Update: $helpdesk-title$",
        body="$helpdesk-replyabove$\nDear $contacts-name$ of $accounts-name$,\n"
             "$users-name$ wrote:\n$helpdesk-comments$")
    _, outbound = await outbox_scene.comment("Fixed.")
    assert outbound is not None
    assert outbound.subject == "[TT7] Update: Printer on fire"
    assert "Dear Eve Example of Example Corp," in outbound.text_body
    assert "Alice Agent wrote:" in outbound.text_body


async def test_broken_template_fails_the_delivery_with_the_reason(
        outbox_scene: OutboxScene) -> None:
    await ensure_default_templates()
    await EmailTemplate.filter(key=TICKET_COMMENT_TEMPLATE).update(body="{{ ''.__class__ }}")
    comment, outbound = await outbox_scene.comment("Fixed.")
    assert await Comment.exists(id=comment.id)
    assert outbound is not None and outbound.status == DeliveryStatus.FAILED
    assert outbound.reason == DeliveryReason.TEMPLATE_ERROR
    assert "unsafe" in (outbound.last_error or "")


async def test_inactive_template_sends_nothing(outbox_scene: OutboxScene) -> None:
    await ensure_default_templates()
    await EmailTemplate.filter(key=TICKET_COMMENT_TEMPLATE).update(active=False)
    _, outbound = await outbox_scene.comment()
    assert outbound is None


async def test_default_template_is_created_once(db: object) -> None:
    await ensure_default_templates()
    await ensure_default_templates()
    [template] = await EmailTemplate.filter(key=TICKET_COMMENT_TEMPLATE)
    assert template.name == "Ticket comment changed"
    assert "$helpdesk-ticket_no$" in template.subject
    assert template.body.splitlines()[0] == "$helpdesk-replyabove$"
    assert "$helpdesk-comments$" in template.body
    assert template.send_to == ["contact_email"]


async def test_sweep_finds_due_rows_only(outbox_scene: OutboxScene) -> None:
    _, outbound = await outbox_scene.comment()
    assert outbound is not None
    assert await sweep_outbound() == [outbound.id]
    await OutboundEmail.filter(id=outbound.id).update(status=DeliveryStatus.SENT)
    assert await sweep_outbound() == []


def _build(**overrides: Any) -> bytes:
    args: dict[str, Any] = {
        "sender_address": "support@helpdesk.test", "sender_name": "Ünïcode Support",
        "recipients": ["Zoë Çelik <zoe@example.com>"],
        "subject": "[TT7] Drucker brennt — schnell", "text_body": "Hallo\n",
        "html_body": "<p>Hallo</p>", "message_id": "<TT7.c1.abc@helpdesk.test>",
        "in_reply_to": "<first@example.com>", "references": ["<first@example.com>"]}
    args.update(overrides)
    return bytes(build_message(**args).as_bytes())


def test_message_has_text_and_html_parts_and_encoded_non_ascii_headers() -> None:
    raw = _build()
    assert raw.isascii()  # RFC 2047 / quoted-printable, nothing raw on the wire
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "[TT7] Drucker brennt — schnell"
    assert msg["From"].addresses[0].display_name == "Ünïcode Support"
    assert msg["To"].addresses[0].display_name == "Zoë Çelik"
    assert msg["Message-ID"] == "<TT7.c1.abc@helpdesk.test>"
    assert msg["In-Reply-To"] == "<first@example.com>"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_crlf_in_subject_and_names_cannot_add_headers() -> None:
    raw = _build(subject="Hi\r\nBcc: evil@example.com", sender_name="X\r\nBcc: evil@example.com",
                 recipients=[format_recipient("Eve\nBcc: evil@example.com", "eve@example.com")])
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Bcc"] is None
    assert b"\r\nBcc:" not in raw


@pytest.mark.parametrize("address", ["eve@@example.com", "eve@example.com\r\nBcc: x@y.z",
                                     "no-at-sign", ""])
def test_invalid_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidAddress):
        format_recipient("Eve", address)


def test_foreign_message_ids_that_are_not_plain_ids_are_dropped() -> None:
    raw = _build(in_reply_to="<a@b>\r\nBcc: x@y", references=["junk", "<ok@example.com>"])
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["In-Reply-To"] is None and msg["Bcc"] is None
    assert msg["References"] == "<ok@example.com>"
