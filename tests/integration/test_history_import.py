"""Onboarding a mailbox with months of mail: `activateScanner(importHistoryAs: CLOSED)` turns
the mail that is there into closed tickets with their original dates, and wakes nobody: no
email is sent (the embedded job runner and a real SMTP server are running), no ticket event
is published, no existing ticket is reopened. Mail that arrives afterwards is new mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from mailscanner.models import (
    Comment,
    MessageLog,
    OutboundEmail,
    ScanRun,
    ScanRunStatus,
    ScanType,
    Ticket,
    TicketStatus,
    User,
)
from mailscanner.outbound.outbox import queue_comment_email
from mailscanner.settings import Settings
from mailscanner.workers.cron import sweep_outbound_jobs
from mailscanner.workers.runtime import start_embedded

from ..fixtures.dovecot import ImapUser
from ..fixtures.smtp import SmtpTestServer
from ..resolvers.conftest import Api, api  # noqa: F401 — the fixture, used here too
from ..scanning.helpers import mail, make_scanner, ticket_events
from ..scanning.history import append_history, helpdesk_rules, helpdesk_state
from ..workers.cluster import wait_until

pytestmark = pytest.mark.integration

RUN = "mutation ($id: ID!) { runScanner(id: $id) { __typename } }"
ACTIVATE = """
mutation ($id: ID!) {
  activateScanner(id: $id, importHistoryAs: CLOSED) {
    __typename
    ... on ScannerActivated { firstScan { wouldScan } firstScanError }
  }
}"""


async def _finished() -> bool:
    return not await ScanRun.filter(
        status__in=[ScanRunStatus.QUEUED, ScanRunStatus.RUNNING]
    ).exists() and await ScanRun.exists()


async def test_a_big_first_import_as_closed_sends_nothing_and_keeps_the_dates(
    db: Settings, api: Api, imap_user: ImapUser, smtp_server: SmtpTestServer  # noqa: F811
) -> None:
    # given: a helpdesk sending through the test SMTP server, 600 messages over six dates
    tt1 = await helpdesk_state(smtp_server)
    tt1_updated = tt1.updated_at
    history = append_history(imap_user, 600)
    days = set(history.arrived.values())
    scanner = await make_scanner(imap_user, active=False, scan_type=ScanType.ALL_SINCE_LAST_SCAN)
    await helpdesk_rules(scanner)
    runner = await start_embedded(db, cron=False)
    try:
        async with ticket_events() as heard:
            # when: activated with the history imported as closed tickets (the first scan is
            # queued by the activation and runs in the embedded runner)
            result = (await api.gql(ACTIVATE, {"id": str(scanner.id)}))["activateScanner"]
            assert result["firstScan"]["wouldScan"] == 600, result
            await wait_until(_finished, "the first scan", limit=180)
            await sweep_outbound_jobs()
            await runner.queue.join()
        run = await ScanRun.get(scanner_id=scanner.id)
        # then: all of it became tickets, closed and dated by their mails; nothing was sent
        # and no ticket event was published
        assert run.status == ScanRunStatus.SUCCEEDED, run.error
        assert smtp_server.received() == [] and heard == []
        assert await OutboundEmail.all().count() == 1  # the one sent before
        imported = await Ticket.exclude(id=tt1.id)
        assert len(imported) > 100
        assert {t.status for t in imported} == {TicketStatus.CLOSED}
        for ticket in imported:
            assert ticket.created_at.date() in days, ticket.number
            assert ticket.updated_at >= ticket.created_at
            assert ticket.updated_at.date() in days
        comments = await Comment.all()
        assert len(comments) > 50 and all(c.created_at.date() in days for c in comments)
        counts = run.counts
        assert counts["imported"] == counts["tickets_created"] + counts["comments_added"]
        # the ticket that existed got the history's comments, but was not changed otherwise
        # (its last change is newer than any of that mail)
        await tt1.refresh_from_db()
        assert tt1.status == TicketStatus.OPEN and await Comment.filter(ticket_id=tt1.id).exists()
        assert tt1.updated_at == tt1_updated
        # when: new mail arrives after the activation
        with imap_user.client() as c:
            c.append("INBOX", mail("Brand new case", date=datetime.now(UTC)))
        async with ticket_events() as heard:
            await api.gql(RUN, {"id": str(scanner.id)})
            await wait_until(_finished, "the second scan", limit=60)
        # then: it is a new, open ticket, and it is announced
        new = await Ticket.get(title="Brand new case")
        assert new.status == TicketStatus.OPEN
        assert new.created_at > datetime.now(UTC) - timedelta(minutes=5)
        assert ("ticket_created", new.id) in [(e["kind"], e["ticket_id"]) for e in heard]
        # and the SMTP path works: an agent's comment on it is emailed
        agent = await User.create(name="Alice Agent", email="alice@helpdesk.test")
        async with in_transaction() as conn:
            comment = await Comment.create(
                ticket=new, body="On it.", author_user=agent, using_db=conn
            )
            assert await queue_comment_email(comment, agent, conn, settings=db) is not None
        await sweep_outbound_jobs()
        await runner.queue.join()
        assert len(await smtp_server.wait_for(1)) == 1
    finally:
        await runner.stop()
    assert await MessageLog.filter(scanner_id=scanner.id).count() == 601
