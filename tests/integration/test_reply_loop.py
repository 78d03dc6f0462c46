"""The whole conversation over real servers: a customer mails the support mailbox (Dovecot),
the scan opens ticket TT1, an agent comments through GraphQL `addComment`, the send job
mails it through aiosmtpd (STARTTLS + AUTH, certificate validated), the customer answers
above the marker as Gmail or Outlook would, and the next scan adds exactly that text as a
comment on the same ticket. When SMTP is down, the comment is saved and its mail retried
until the server is back, then sent exactly once.
"""
from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import httpx2
import pytest

from mailscanner.app import create_app
from mailscanner.mail.reply import DEFAULT_MARKER
from mailscanner.models import (
    Comment,
    CommentSource,
    DeliveryStatus,
    OutboundEmail,
    Role,
    Ticket,
)
from mailscanner.outbound.threading import ticket_number_from_message_id
from mailscanner.resolvers.auth import create_token
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.inprocess import InProcessQueue
from mailscanner.workers.queue import set_queue
from mailscanner.workers.settings import build_functions

from ..fixtures.dovecot import ImapUser
from ..fixtures.smtp import ReceivedMail, SmtpTestServer, save_smtp_settings
from ..scanning.helpers import add_rule, make_scanner

pytestmark = pytest.mark.integration

CUSTOMER = "Ann Example <ann@example.com>"

ADD_COMMENT = """
mutation($ticketId: ID!, $body: String!) {
  addComment(ticketId: $ticketId, body: $body) {
    __typename
    ... on CommentPayload { comment { id delivery { status } } }
  }
}
"""


@dataclass
class Loop:
    settings: Settings
    imap: ImapUser
    smtp: SmtpTestServer
    scanner_id: int
    queue: InProcessQueue
    client: httpx2.AsyncClient
    agent_token: str

    async def scan(self) -> None:
        run = await run_scan(self.scanner_id, settings=self.settings)
        assert run.error is None, run.error

    async def comment(self, ticket: Ticket, body: str) -> int:
        """An agent comments in the CRM (GraphQL); returns the comment id."""
        response = await self.client.post(
            "/graphql", json={"query": ADD_COMMENT,
                              "variables": {"ticketId": str(ticket.id), "body": body}},
            headers={"Authorization": f"Bearer {self.agent_token}"})
        payload = response.json()
        assert not payload.get("errors"), payload
        result = payload["data"]["addComment"]
        assert result["__typename"] == "CommentPayload"
        # The in-process runner may already have taken the send job by the time we read it.
        assert result["comment"]["delivery"]["status"] in {"QUEUED", "SENDING", "SENT"}
        return int(result["comment"]["id"])


@pytest.fixture
async def loop(db: Settings, imap_user: ImapUser, smtp_server: SmtpTestServer,
               monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Loop]:
    # The API layer reads the Message-ID domain from the environment when no settings are
    # passed down; point it at the test settings so scanner and sender agree on the domain.
    monkeypatch.setenv("MAILSCANNER_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("MAILSCANNER_MESSAGE_ID_DOMAIN", db.message_id_domain)
    # 1. the support mailbox is scanned, and SMTP sends as that same mailbox
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [{"type": "create_contact"},
                                          {"type": "create_or_update_ticket"}])
    await save_smtp_settings(smtp_server)
    # 2. the real job runner, trusting the test server's certificate
    queue = InProcessQueue(build_functions(JobsConfig()),
                           ctx={"smtp_cafile": smtp_server.ca_file, "send_retry_base_s": 0.3})
    set_queue(queue)
    agent_token = await create_token(Role.AGENT, "agent", "Alice Agent")
    app = create_app(db, start_services=False)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                      base_url="http://testserver") as client:
            yield Loop(db, imap_user, smtp_server, scanner.id, queue, client, agent_token)
    finally:
        set_queue(None)
        await queue.close()


def _first_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = CUSTOMER
    msg["To"] = "support@helpdesk.test"
    msg["Subject"] = "Printer on fire"
    msg["Date"] = format_datetime(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    msg["Message-ID"] = "<first-1@customer.example>"
    msg.set_content("Hello,\nthe printer on floor 2 is on fire.\nAnn\n")
    return msg.as_bytes()


def _text_and_html(mail: ReceivedMail) -> tuple[str, str]:
    msg = mail.message
    text = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    assert text is not None and html_part is not None
    return str(text.get_content()), str(html_part.get_content())


def _reply_headers(msg: EmailMessage, ours: EmailMessage, subject_prefix: str) -> None:
    msg["From"] = CUSTOMER
    msg["To"] = str(ours["From"])
    msg["Subject"] = f"{subject_prefix} {ours['Subject']}"
    msg["Date"] = format_datetime(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    msg["Message-ID"] = make_msgid(domain="customer.example")
    msg["In-Reply-To"] = str(ours["Message-ID"])
    msg["References"] = f"{ours.get('References', '')} {ours['Message-ID']}".strip()


def gmail_reply(ours: ReceivedMail, new_text: str) -> bytes:
    """What Gmail sends: text with `>` quoting under an attribution, HTML with gmail_quote."""
    text, body_html = _text_and_html(ours)
    attribution = "On Sat, Nov 28, 2026 at 11:00 AM Acme Support <support@helpdesk.test> wrote:"
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    msg = EmailMessage()
    _reply_headers(msg, ours.message, "Re:")
    msg.set_content(f"{new_text}\n\n{attribution}\n\n{quoted}\n")
    msg.add_alternative(
        f'<div dir="ltr">{html.escape(new_text)}</div><br><div class="gmail_quote">'
        f'<div dir="ltr" class="gmail_attr">{html.escape(attribution)}<br></div>'
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
        f'border-left:1px solid rgb(204,204,204);padding-left:1ex">{body_html}</blockquote></div>',
        subtype="html")
    return msg.as_bytes()


def outlook_reply(ours: ReceivedMail, new_text: str) -> bytes:
    """What Outlook sends: no quoting marks, a From/Sent/To/Subject block under a rule."""
    text, body_html = _text_and_html(ours)
    header_block = ("From: Acme Support <support@helpdesk.test>\n"
                    "Sent: Saturday, November 28, 2026 11:00 AM\n"
                    "To: Ann Example <ann@example.com>\n"
                    f"Subject: {ours.message['Subject']}\n")
    msg = EmailMessage()
    _reply_headers(msg, ours.message, "RE:")
    msg["Thread-Index"] = "AQHZ1234567890abcdef=="
    msg.set_content(f"{new_text}\n\n________________________________\n{header_block}\n{text}")
    msg.add_alternative(
        '<html><body><div style="font-family:Calibri,Arial,Helvetica,sans-serif;font-size:12pt">'
        f'{html.escape(new_text)}</div><div id="appendonsend"></div>'
        '<hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt">'
        '<b>From:</b> Acme Support &lt;support@helpdesk.test&gt;<br><b>Sent:</b> Saturday, '
        'November 28, 2026 11:00 AM<br><b>To:</b> Ann Example &lt;ann@example.com&gt;<br>'
        f'<b>Subject:</b> {html.escape(str(ours.message["Subject"]))}</font><div>&nbsp;</div></div>'
        f'<div>{body_html}</div></body></html>', subtype="html")
    return msg.as_bytes()


async def test_comment_goes_out_by_mail_and_replies_come_back_as_comments(loop: Loop) -> None:
    # given: the customer's first mail becomes ticket TT1
    loop.imap.append("INBOX", [_first_mail()])
    await loop.scan()
    ticket = await Ticket.get().prefetch_related("contact")
    assert ticket.number == "TT1"
    assert ticket.contact is not None and ticket.contact.email == "ann@example.com"

    # when: an agent comments; the job mails it
    await loop.comment(ticket, "We replaced the toner. Please try again.")
    await loop.queue.join()

    # then: one mail, threaded under the customer's, marker first, sent over STARTTLS + AUTH
    [ours] = await loop.smtp.wait_for(1)
    assert ours.tls and ours.auth_user == loop.smtp.user
    assert ours.rcpt_tos == ["ann@example.com"]
    assert ours.message["Subject"] == "[TT1] Printer on fire"
    assert ours.message["In-Reply-To"] == "<first-1@customer.example>"
    assert ticket_number_from_message_id(str(ours.message["Message-ID"]),
                                         loop.settings.message_id_domain) == "TT1"
    text, _ = _text_and_html(ours)
    assert text.splitlines()[0] == DEFAULT_MARKER
    assert "We replaced the toner." in text

    # when: the customer answers from Gmail
    loop.imap.append("INBOX", [gmail_reply(ours, "Thanks, it works now!")])
    await loop.scan()
    # then: exactly the new text, on the same ticket
    assert await Ticket.all().count() == 1
    gmail = await Comment.filter(ticket_id=ticket.id, source=CommentSource.EMAIL).get()
    assert gmail.body.strip() == "Thanks, it works now!"

    # and again from Outlook, replying to a second agent comment
    await loop.comment(ticket, "Glad to hear. Anything else?")
    await loop.queue.join()
    second = (await loop.smtp.wait_for(2))[1]
    assert "Thanks, it works now!" in _text_and_html(second)[0]  # the history is in the mail
    loop.imap.append("INBOX", [outlook_reply(second, "No, all good.\nBest regards, Ann")])
    await loop.scan()
    assert await Ticket.all().count() == 1
    bodies = [c.body.strip() for c in await Comment.filter(
        ticket_id=ticket.id, source=CommentSource.EMAIL).order_by("id")]
    assert bodies == ["Thanks, it works now!", "No, all good.\nBest regards, Ann"]
    # each mail went out exactly once
    assert len(loop.smtp.received()) == 2
    assert await OutboundEmail.filter(status=DeliveryStatus.SENT).count() == 2


async def test_smtp_down_saves_the_comment_and_sends_once_when_back(loop: Loop) -> None:
    # given
    loop.imap.append("INBOX", [_first_mail()])
    await loop.scan()
    ticket = await Ticket.get()
    loop.smtp.stop()
    # when: the agent comments while SMTP is down
    comment_id = await loop.comment(ticket, "We are looking into it.")
    # then: the comment is saved and its mail is waiting for a retry
    assert await Comment.filter(id=comment_id).exists()
    row = await _wait_for_attempt(comment_id)
    assert row.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
    assert row.last_error is not None and "refused the connection" in row.last_error
    assert loop.smtp.received() == []
    # when: the server is back
    loop.smtp.start()
    await loop.queue.join()
    # then: sent exactly once
    [mail] = await loop.smtp.wait_for(1)
    assert "We are looking into it." in _text_and_html(mail)[0]
    row = await OutboundEmail.get(comment_id=comment_id)
    assert row.status == DeliveryStatus.SENT and row.attempts >= 2
    assert len(loop.smtp.received()) == 1


async def _wait_for_attempt(comment_id: int) -> OutboundEmail:
    for _ in range(250):
        row = await OutboundEmail.get(comment_id=comment_id)
        if row.last_error:
            return row
        await asyncio.sleep(0.02)
    raise AssertionError("the send job never tried")

