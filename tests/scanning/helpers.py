"""Builders shared by the scanning tests: scanners on the test Dovecot, rules, mails."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from mailscanner import events, rules_dsl
from mailscanner.models import Encryption, Rule, Scanner, ScanType

from ..fixtures.dovecot import ImapUser

SEEN = b"\\Seen"  # the IMAP flag of read mail
TICKET = {"type": "create_or_update_ticket"}  # the rule action most scans run
CONTACT = {"type": "create_contact"}

_counter = iter(range(1, 10**9))


async def make_scanner(user: ImapUser, **overrides: Any) -> Scanner:
    """A saved password scanner reading `user`'s mailbox over IMAPS (validation off)."""
    values: dict[str, Any] = dict(
        name=f"scanner-{user.name}-{next(_counter)}",
        active=True,
        host="127.0.0.1",
        port=user.server.imaps_port,
        encryption=Encryption.SSL,
        validate_certificate=False,
        scan_type=ScanType.UNREAD,
        username=user.name,
    )
    values.update(overrides)
    password = values.pop("password", user.password)
    scanner = Scanner(**values)
    scanner.set_password(password)
    await scanner.save()
    return scanner


async def add_rule(
    scanner: Scanner,
    condition: str,
    actions: list[dict[str, Any]],
    *,
    folders: list[str] | None = None,
    continue_after_match: bool = False,
    name: str | None = None,
    sequence: int | None = None,
) -> Rule:
    """A rule whose condition is written in the rules language's text form."""
    n = next(_counter)
    return await Rule.create(
        scanner=scanner,
        name=name or f"rule {n}",
        sequence=n if sequence is None else sequence,
        folders=folders or ["INBOX"],
        condition=json.loads(rules_dsl.dumps(rules_dsl.parse(condition))),
        actions=actions,
        continue_after_match=continue_after_match,
    )


def mail(
    subject: str,
    *,
    sender: str = "Ann Example <ann@example.com>",
    body: str = "Hello,\nplease help.\n",
    to: str = "support@helpdesk.test",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
    date: datetime | None = None,
) -> bytes:
    """An RFC 5322 message as bytes (CRLF), with a unique Message-ID unless given."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="customer.example")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, data, ctype in attachments or []:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(msg).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@contextlib.asynccontextmanager
async def ticket_events() -> AsyncIterator[list[dict[str, Any]]]:
    """Collect the ticket events published (in this process) while the block runs."""
    heard: list[dict[str, Any]] = []
    ready = asyncio.Event()

    async def collect() -> None:
        stream = events.subscribe(events.TICKETS_CHANNEL)
        waiting = asyncio.ensure_future(stream.__anext__())
        ready.set()
        try:
            while True:
                heard.append(await waiting)
                waiting = asyncio.ensure_future(stream.__anext__())
        finally:
            waiting.cancel()
            with contextlib.suppress(BaseException):
                await waiting
            await stream.aclose()  # type: ignore[attr-defined]

    task = asyncio.ensure_future(collect())
    await ready.wait()
    try:
        yield heard
    finally:
        await asyncio.sleep(0.05)  # events published just before the end arrive
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
