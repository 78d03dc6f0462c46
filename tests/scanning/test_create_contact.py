from __future__ import annotations

from typing import Any

import pytest
from tortoise.transactions import in_transaction

from mailscanner.mail.parsing import parse_email
from mailscanner.models import Contact, Scanner
from mailscanner.scanning.actions import create_contact
from mailscanner.scanning.context import MessageContext, ScanConfig
from mailscanner.settings import Settings

RAW = (
    b"From: New Person <New.Person@Example.com>\r\nTo: support@x.test\r\n"
    b"Subject: hi\r\n\r\nbody\r\n"
)


async def test_a_sender_added_by_a_concurrent_scan_is_reused_not_quarantined(
        db: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # given: between our lookup and our insert, another scan commits the same sender
    scanner = await Scanner.create(name="s", host="h")
    real_account_id = create_contact._account_id

    async def concurrent_insert(ctx: MessageContext, domain: str) -> Any:
        await Contact.create(name="Other scan", email="new.person@example.com", using_db=ctx.conn)
        return await real_account_id(ctx, domain)

    monkeypatch.setattr(create_contact, "_account_id", concurrent_insert)
    # when
    async with in_transaction() as conn:
        ctx = MessageContext(config=ScanConfig(scanner=scanner, ticket_prefix="TT",
                                               message_id_domain="x.test"),
                             email=parse_email(RAW), folder="INBOX", conn=conn)
        outcome = await create_contact.run(ctx, {})
        await Contact.create(name="after", email="later@example.com", using_db=conn)
    # then: the existing contact is used and the transaction is still usable
    assert outcome.outcome == "done" and outcome.detail.startswith("found contact")
    assert ctx.counts["contacts_created"] == 0
    assert await Contact.filter(email_normalized="new.person@example.com").count() == 1
    assert await Contact.filter(email_normalized="later@example.com").exists()
