"""The planner (scanning/planner.py) decides as the per-message actions do: one mailbox with
custom ticket patterns, subject matching, a bounce and planned-in-batch threads, scanned by
the batch path and by the one-message-per-transaction path, must end the same; so must
mail imported as history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailscanner.models import (
    Comment,
    DeliveryStatus,
    MessageLog,
    OutboundEmail,
    ScanRunStatus,
    Ticket,
    TicketStatus,
)
from mailscanner.scanning import pipeline
from mailscanner.scanning.pipeline import run_scan
from mailscanner.scanning.start import scan_preview
from mailscanner.settings import Settings

from ..fixtures.dovecot import ImapUser
from ..integration.test_scan_safety import BOUNCE
from .helpers import CONTACT, add_rule, mail, make_scanner, ticket_events

pytestmark = pytest.mark.integration

MATCHING = {
    "type": "create_or_update_ticket",
    "regex": r"Case #(\d+)",
    "match_subject": True,
}


@pytest.fixture(params=["batch", "one_by_one"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Scan through the batch planner, or make every batch fall back to the per-message
    actions (as after a rolled-back batch)."""
    if request.param == "one_by_one":

        async def fail(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("batch path switched off for this test")

        monkeypatch.setattr(pipeline._FolderScan, "_in_one_transaction", fail)
    return str(request.param)


async def test_patterns_subjects_and_bounces_are_decided_alike_on_both_paths(
    db: Settings, imap_user: ImapUser, path: str
) -> None:
    # given: a stored ticket with a comment email we sent, and mail that continues it,
    # continues tickets opened earlier in the same batch, or starts new ones
    vpn = await Ticket.create(number="TT50", title="VPN down")
    sent = await OutboundEmail.create(
        ticket=vpn, message_id="<TT1.c1.aaa111@helpdesk.test>", subject="x", text_body="hi",
        status=DeliveryStatus.SENT,
    )
    imap_user.append(
        "INBOX",
        [
            mail("Printer on fire", sender="Ann <ann@example.com>"),
            mail("Update on Case #1", sender="Bob <bob@example.com>", body="More info.\n"),
            mail("Case #99 lost", sender="Bob <bob@example.com>"),
            mail("Re: printer   ON fire", sender="Cy <cy@example.com>", body="Same here.\n"),
            mail("Question", body="About Case #2: any news?\n"),
            BOUNCE,
            mail("Re: VPN down", sender="Dee <dee@example.com>", body="Still down.\n"),
            mail("Fwd: Printer on fire", sender="Dee <dee@example.com>", body="FYI\n"),
        ],
    )
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [CONTACT, MATCHING])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert run.counts["errors"] == 0
    tickets = {t.number: t for t in await Ticket.all()}
    assert {n: t.title for n, t in tickets.items()} == {
        "TT50": "VPN down",
        "TT1": "Printer on fire",
        "TT2": "Case #99 lost",
    }
    bodies = {
        number: sorted(c.body.strip() for c in await Comment.filter(ticket_id=t.id))
        for number, t in tickets.items()
    }
    assert bodies == {
        "TT50": ["Still down."],
        "TT1": ["FYI", "More info.", "Same here."],
        "TT2": ["About Case #2: any news?"],
    }
    details = {log.subject: log.actions[-1]["detail"] for log in await MessageLog.all()}
    assert "(matched by regex)" in details["Update on Case #1"]
    assert "(matched by regex)" in details["Question"]
    assert "(matched by subject)" in details["Re: printer   ON fire"]
    assert "to TT50 (matched by subject)" in details["Re: VPN down"]
    bounce = await MessageLog.get(subject="Undelivered Mail Returned to Sender")
    assert bounce.actions[0] == {
        "type": "bounce", "outcome": "done", "detail": f"outbound email {sent.id} marked bounced"
    }
    await sent.refresh_from_db()
    assert sent.status == DeliveryStatus.BOUNCED and "5.1.1" in (sent.last_error or "")


async def test_history_is_imported_alike_on_both_paths(
    db: Settings, imap_user: ImapUser, path: str
) -> None:
    # given: a scanner importing history as closed, activated over two old mails
    written = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
    imap_user.append(
        "INBOX",
        [
            mail("Old case", message_id="<old@customer.example>", date=written),
            mail("Re: Old case", headers={"In-Reply-To": "<old@customer.example>"},
                 date=written + timedelta(days=1), body="Later.\n"),
        ],
    )
    scanner = await make_scanner(imap_user, import_history_as=TicketStatus.CLOSED)
    await add_rule(scanner, "size > 0", [CONTACT, {**MATCHING, "set": {"status": "open"}}])
    await scan_preview(scanner, record_start=True)
    now = datetime.now(UTC)
    imap_user.append(
        "INBOX",
        [
            mail("New case", date=now),
            mail("Re: Old case", headers={"In-Reply-To": "<old@customer.example>"}, date=now,
                 body="Any news?\n"),
        ],
    )
    # when
    async with ticket_events() as heard:
        run = await run_scan(scanner.id, settings=db)
    # then: the old mail is a closed ticket dated by it, its reply a comment dated by it;
    # the reply that came after activation is news (now, and announced)
    old = await Ticket.get(title="Old case")
    assert (old.status, old.created_at) == (TicketStatus.CLOSED, written)
    assert old.updated_at >= now - timedelta(minutes=1)
    reply, news = await Comment.filter(ticket_id=old.id).order_by("id")
    assert reply.created_at == written + timedelta(days=1) and reply.body.strip() == "Later."
    assert news.created_at >= now - timedelta(minutes=1)
    new = await Ticket.get(title="New case")
    assert new.status == TicketStatus.OPEN and new.created_at > written
    assert run.counts["imported"] == 2 and run.counts["tickets_created"] == 2
    # and only the mail that came after activation was announced
    assert sorted((e["kind"], e["ticket_id"]) for e in heard) == [
        ("comment_added", old.id), ("ticket_created", new.id)
    ]
