"""Attachments end to end on the real servers: a customer's mail with a PDF, an inline image
and a 30 MB file is scanned from Dovecot; agents list and download the files through the API;
an agent's upload (GraphQL multipart request spec) reaches aiosmtpd as a MIME attachment;
a comment email failed by a wrong SMTP password is resent after the fix and arrives once.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mailscanner.app import create_app
from mailscanner.models import (
    Attachment,
    DeliveryStatus,
    MessageLog,
    OutboundEmail,
    Role,
    SmtpSettings,
    Ticket,
)
from mailscanner.resolvers.auth import create_token
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.inprocess import InProcessQueue
from mailscanner.workers.queue import set_queue
from mailscanner.workers.settings import build_functions

from ..fixtures.dovecot import ImapUser
from ..fixtures.smtp import SmtpTestServer, save_smtp_settings
from ..scanning.helpers import CONTACT, TICKET, add_rule, make_scanner

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 400 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
BIG = 30 * 1024 * 1024

TICKET_FILES = """
query($n: String!) { ticket(number: $n) { attachments {
  id filename contentType size sha256 inline contentId downloadUrl skipped skippedReason commentId
} } }"""

UPLOAD = """
mutation($t: ID!, $files: [Upload!]) {
  addComment(ticketId: $t, body: "The signed form is attached.", attachments: $files) {
    __typename
    ... on CommentPayload { comment { id attachments { filename size sha256 } } }
    ... on ValidationError { errors { field code message } }
  }
}"""

RESEND = """
mutation($c: ID!) { resendCommentEmail(commentId: $c) {
  __typename
  ... on CommentPayload { comment { delivery { status attempts
                                               history { status error } } } }
  ... on ResendRefusedError { code status message }
} }"""


@dataclass
class Desk:
    settings: Settings
    imap: ImapUser
    smtp: SmtpTestServer
    scanner_id: int
    queue: InProcessQueue
    client: httpx2.AsyncClient
    token: str
    smtp_row: SmtpSettings

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def gql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post("/graphql", headers=self.auth,
                                          json={"query": query, "variables": variables})
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data

    async def upload(self, ticket_id: int, files: list[tuple[str, bytes, str]]) -> Any:
        operations = {"query": UPLOAD,
                      "variables": {"t": str(ticket_id), "files": [None] * len(files)}}
        mapping = {str(i): [f"variables.files.{i}"] for i in range(len(files))}
        response = await self.client.post(
            "/graphql", headers=self.auth,
            data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
            files={str(i): (name, data, ctype) for i, (name, data, ctype) in enumerate(files)})
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]["addComment"]


@pytest.fixture
async def desk(db: Settings, imap_user: ImapUser, smtp_server: SmtpTestServer,
               monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Desk]:
    monkeypatch.setenv("MAILSCANNER_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("MAILSCANNER_MESSAGE_ID_DOMAIN", db.message_id_domain)
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [CONTACT, TICKET])
    smtp = await save_smtp_settings(smtp_server)
    queue = InProcessQueue(build_functions(JobsConfig()), ctx={
        "smtp_cafile": smtp_server.ca_file, "send_retry_base_s": 0.3, "settings": db})
    set_queue(queue)
    token = await create_token(Role.AGENT, "agent", "Alice Agent")
    app = create_app(db, start_services=False)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                      base_url="http://testserver") as client:
            yield Desk(db, imap_user, smtp_server, scanner.id, queue, client, token, smtp)
    finally:
        set_queue(None)
        await queue.close()


def _customer_mail(big: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann Example <ann@example.com>"
    msg["To"] = "support@helpdesk.test"
    msg["Subject"] = "Invoice and screenshot"
    msg["Message-ID"] = make_msgid(domain="customer.example")
    msg.set_content("The invoice is attached; the error is in the screenshot.\n")
    msg.add_alternative('<p>The error:</p><img src="cid:shot@ann">', subtype="html")
    html = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html, EmailMessage)
    html.add_related(PNG, maintype="image", subtype="png", cid="<shot@ann>",
                     filename="screenshot.png")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="Rechnung für Nov.pdf")
    msg.add_attachment(big, maintype="application", subtype="zip", filename="logs.zip")
    return bytes(msg)


async def test_a_scanned_mail_s_files_are_listed_downloadable_and_the_big_one_skipped(
    desk: Desk,
) -> None:
    # given: a mail with a PDF, an inline screenshot and a 30 MB archive in the mailbox
    desk.imap.append("INBOX", [_customer_mail(os.urandom(BIG))])
    # when
    run = await run_scan(desk.scanner_id, settings=desk.settings)
    assert run.error is None, run.error
    files = (await desk.gql(TICKET_FILES, {"n": "TT1"}))["ticket"]["attachments"]
    # then: all three are listed on the ticket's first message
    by_name = {f["filename"]: f for f in files}
    assert set(by_name) == {"screenshot.png", "Rechnung für Nov.pdf", "logs.zip"}
    pdf, shot, big = by_name["Rechnung für Nov.pdf"], by_name["screenshot.png"], by_name["logs.zip"]
    assert all(f["commentId"] is None for f in files)
    assert shot["inline"] is True and shot["contentId"] == "shot@ann"
    assert pdf["inline"] is False and pdf["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert big == {**big, "skipped": True, "skippedReason": "TOO_LARGE", "size": BIG,
                   "contentType": "application/zip", "sha256": None, "downloadUrl": None}
    # and the PDF downloads byte for byte, with safe headers
    response = await desk.client.get(pdf["downloadUrl"], headers=desk.auth)
    assert response.status_code == 200
    assert response.content == PDF and hashlib.sha256(response.content).hexdigest() == pdf["sha256"]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["etag"] == f'"{pdf["sha256"]}"'
    assert response.headers["content-length"] == str(len(PDF))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].endswith(
        "filename*=UTF-8''Rechnung%20f%C3%BCr%20Nov.pdf")
    # and the message log says what was skipped
    log = await MessageLog.get()
    detail = log.actions[-1]["detail"]
    assert "created ticket TT1 with 2 attachment(s)" in detail
    assert f"1 attachment(s) skipped: logs.zip (application/zip, {BIG} bytes, over the limit" \
        in detail
    assert await Attachment.filter(skipped_reason__isnull=False).count() == 1


async def test_an_uploaded_file_reaches_the_customer_as_a_mime_attachment(desk: Desk) -> None:
    # given: a ticket from the customer's mail
    desk.imap.append("INBOX", [_customer_mail(b"small logs")])
    assert (await run_scan(desk.scanner_id, settings=desk.settings)).error is None
    ticket = await Ticket.get(number="TT1")
    form = b"%PDF-1.7 signed form " + os.urandom(200_000)
    # when: the agent comments with two files, sent as curl -F would
    result = await desk.upload(ticket.id, [("signed form.pdf", form, "application/pdf"),
                                           ("notes.txt", b"line 1\nline 2\n", "text/plain")])
    await desk.queue.join()
    # then: the comment lists them, and the customer's mail carries them byte for byte
    assert result["__typename"] == "CommentPayload", result
    assert [(f["filename"], f["size"]) for f in result["comment"]["attachments"]] == [
        ("signed form.pdf", len(form)), ("notes.txt", 14)]
    [mail] = await desk.smtp.wait_for(1)
    sent = {a.get_filename(): a for a in mail.message.iter_attachments()}
    assert set(sent) == {"signed form.pdf", "notes.txt"}
    assert sent["signed form.pdf"].get_content_type() == "application/pdf"
    assert sent["signed form.pdf"].get_payload(decode=True) == form
    assert sent["notes.txt"].get_payload(decode=True) == b"line 1\nline 2\n"
    assert sent["notes.txt"].get_content_type() == "text/plain"
    assert "The signed form is attached." in str(mail.message.get_body(("plain",)))


async def _delivery_status(comment_id: int, want: DeliveryStatus) -> OutboundEmail:
    for _ in range(200):
        row = await OutboundEmail.get(comment_id=comment_id)
        if row.status == want:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"delivery of comment {comment_id} never became {want}")


async def test_a_comment_failed_by_a_wrong_smtp_password_is_resent_after_the_fix_once(
    desk: Desk,
) -> None:
    # given: a ticket, and SMTP settings with a wrong password
    desk.imap.append("INBOX", [_customer_mail(b"small logs")])
    assert (await run_scan(desk.scanner_id, settings=desk.settings)).error is None
    ticket = await Ticket.get(number="TT1")
    desk.smtp_row.set_password("wrong password")
    await desk.smtp_row.save()
    result = await desk.upload(ticket.id, [("form.pdf", b"%PDF-1.7 form", "application/pdf")])
    comment_id = int(result["comment"]["id"])
    await desk.queue.join()
    failed = await _delivery_status(comment_id, DeliveryStatus.FAILED)
    assert desk.smtp.received() == []
    # when: the admin fixes the password and the agent resends
    desk.smtp_row.set_password(desk.smtp.password)
    await desk.smtp_row.save()
    resent = (await desk.gql(RESEND, {"c": str(comment_id)}))["resendCommentEmail"]
    await desk.queue.join()
    # then: it arrives exactly once, and the history keeps both attempts
    assert resent["__typename"] == "CommentPayload", resent
    [mail] = await desk.smtp.wait_for(1)
    assert mail.message["Message-ID"].strip("<>") == failed.message_id.strip("<>")
    [file] = mail.message.iter_attachments()
    assert file.get_payload(decode=True) == b"%PDF-1.7 form"
    await _delivery_status(comment_id, DeliveryStatus.SENT)
    again = (await desk.gql(RESEND, {"c": str(comment_id)}))["resendCommentEmail"]
    assert again == {"__typename": "ResendRefusedError", "code": "ALREADY_SENT", "status": "SENT",
                     "message": "The email was already sent"}
    await desk.queue.join()
    assert len(desk.smtp.received()) == 1
    history = (await desk.gql(
        "query($n: String!) { ticket(number: $n) { comments { delivery { status attempts "
        "history { status error } } } } }", {"n": "TT1"}))["ticket"]["comments"][0]["delivery"]
    assert history["status"] == "SENT" and history["attempts"] == 2
    assert [h["status"] for h in history["history"]] == ["FAILED", "SENT"]
    assert history["history"][0]["error"] and history["history"][1]["error"] is None
