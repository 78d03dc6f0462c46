"""A support mailbox with a few hundred messages over several months, as a helpdesk that
switches systems brings along: new cases, replies by Message-ID and by subject, ticket
numbers and case numbers in subjects, invoices, spam, out-of-office replies, a bounce, our
own mail, attachments, some mail already read, and some old mail appended late (its
INTERNALDATE older than mail with lower UIDs, as when mail is moved in from an archive).

Every message is APPENDed with its INTERNALDATE (at noon UTC, so its date is the same in
any server time zone); `History.arrived` says which UID got which date.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from mailscanner import rules_dsl
from mailscanner.models import (
    Contact,
    DeliveryStatus,
    Encryption,
    OutboundEmail,
    Rule,
    Scanner,
    SmtpAuth,
    SmtpSettings,
    Ticket,
)

from ..fixtures.dovecot import ImapUser
from ..fixtures.smtp import SmtpTestServer
from ..integration.test_scan_safety import BOUNCE
from .helpers import CONTACT, SEEN, mail

DATES = [date(2026, 8, 3), date(2026, 8, 24), date(2026, 9, 14), date(2026, 10, 5),
         date(2026, 10, 26), date(2026, 11, 16)]
LATE_OLD = date(2026, 6, 1)  # the date of old mail appended late
OUR_ADDRESS = "support@helpdesk.test"
TOPICS = ["printer on fire", "VPN down", "password reset", "laptop slow", "invoice copy",
          "mail bounced", "new starter account", "screen flickers"]


@dataclass
class History:
    arrived: dict[int, date] = field(default_factory=dict)  # uid -> INTERNALDATE (date)
    seen: set[int] = field(default_factory=set)

    def uids_since(self, day: date, *, unseen_only: bool = False) -> list[int]:
        return sorted(
            uid for uid, d in self.arrived.items()
            if d >= day and not (unseen_only and uid in self.seen)
        )


def _at(day: date, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC) + timedelta(seconds=minute)


def _message(  # noqa: C901 — one branch per kind of mail
    i: int, rng: random.Random, starters: list[tuple[str, str]], when: datetime
) -> bytes:
    """The i-th message, written at `when`; `starters` collects (Message-ID, subject) of
    new cases."""

    def dated(subject: str, **kwargs: Any) -> bytes:
        return mail(subject, date=when, **kwargs)

    sender = f"Customer {rng.randrange(40)} <c{rng.randrange(40)}@example{i % 5}.com>"
    roll = rng.random()
    mid = f"<m{i}.{rng.randrange(10**9)}@customer.example>"
    if roll < 0.40 or not starters:
        subject = f"Case {i}: {rng.choice(TOPICS)}"
        starters.append((mid, subject))
        files = [("log.txt", f"log {i}\n".encode() * 50, "text/plain")] if i % 11 == 0 else None
        return dated(subject, sender=sender, message_id=mid, attachments=files)
    first_mid, first_subject = rng.choice(starters)
    if roll < 0.58:
        return dated(f"Re: {first_subject}", sender=sender, message_id=mid,
                     body=f"Reply {i}.\n\n> quoted\n", headers={"In-Reply-To": first_mid})
    if roll < 0.66:
        return dated(f"RE:  {first_subject.upper()}", sender=sender, message_id=mid,
                     body=f"Same subject {i}.\n")
    if roll < 0.71:
        return dated(f"About Case #{rng.choice([1, 3, 999])}", sender=sender, message_id=mid,
                     body=f"Pattern {i}.\n")
    if roll < 0.77:
        return dated(f"Invoice {i} overdue", sender=sender, message_id=mid)
    if roll < 0.82:
        return dated(f"WIN {i} PRIZES", sender=f"Promo <promo{i}@spam.example>", message_id=mid)
    if roll < 0.87:
        return dated(f"Out of office: {first_subject}", sender=sender, message_id=mid,
                     headers={"Auto-Submitted": "auto-replied"})
    if roll < 0.91:
        return dated(f"Re: [TT1] printer on fire {i}", sender=sender, message_id=mid,
                     body=f"Existing ticket {i}.\n")
    if roll < 0.93:
        return dated(f"[TT1] our copy {i}", sender=f"Helpdesk <{OUR_ADDRESS}>", message_id=mid)
    if roll < 0.96:
        return dated("", sender=sender, message_id=mid, body=f"No subject {i}.\n")
    return dated(f"Café ☕ {i}", sender=sender, message_id=mid, body="Grüße, 你好\n")


def append_history(user: ImapUser, count: int = 300, *, seed: int = 16) -> History:
    """APPEND `count` messages (plus one bounce) to INBOX over DATES; every 17th message is
    old mail appended late, every 10th is already read."""
    rng = random.Random(seed)
    starters: list[tuple[str, str]] = []
    items: list[dict[str, Any]] = []
    days: list[date] = []
    for i in range(count):
        day = LATE_OLD if i % 17 == 9 else DATES[i * len(DATES) // count]
        raw = BOUNCE if i == count // 2 else _message(i, rng, starters, _at(day, i))
        flags = (SEEN,) if i % 10 == 3 else ()
        items.append({"msg": raw, "flags": flags, "date": _at(day, i)})
        days.append(day)
    with user.client() as c:
        before = set(c.search("ALL")) if c.select_folder("INBOX", readonly=True) else set()
        c.unselect_folder()  # a selecting session would take the new mail's \Recent flags
        for start in range(0, len(items), 100):
            c.multiappend("INBOX", items[start : start + 100])
        c.select_folder("INBOX", readonly=True)
        uids = sorted(set(c.search("ALL")) - before)
    history = History()
    for i, (uid, day) in enumerate(zip(uids, days, strict=True)):
        history.arrived[uid] = day
        if i % 10 == 3:
            history.seen.add(uid)
    return history


async def helpdesk_rules(scanner: Scanner) -> list[Rule]:
    """Billing mail moved and prioritised, spam deleted, everything else a ticket (with the
    custom case pattern and subject matching)."""
    rules = []
    for n, (name, condition, actions) in enumerate(
        [
            ("Billing", 'subject contains "invoice"',
             [CONTACT, {"type": "create_or_update_ticket",
                        "set": {"category": "Billing", "priority": "high"}},
              {"type": "move_to_folder", "folder": "Billing"}]),
            ("Spam", 'from ends with "@spam.example"', [{"type": "delete_message"}]),
            ("Support", "size > 0",
             [CONTACT, {"type": "create_or_update_ticket", "regex": r"Case #(\d+)",
                        "match_subject": True, "reopen": True}]),
        ],
        start=1,
    ):
        rules.append(await Rule.create(
            scanner=scanner, name=name, sequence=n, folders=["INBOX"],
            condition=rules_dsl.to_json(rules_dsl.parse(condition)), actions=actions,
        ))
    return rules


async def helpdesk_state(smtp: SmtpTestServer | None = None) -> Ticket:
    """What the helpdesk holds before the mailbox is scanned: ticket TT1 (numbered by the
    counter), a comment email we sent for it (the bounce reports it), a known contact, and
    SMTP settings whose sender address is the mailbox's (mail from it is our own), sending
    through `smtp` when given (so that any email the helpdesk sends would arrive there)."""

    async with in_transaction() as conn:
        number = await Ticket.allocate_number("TT", conn)
        ticket = await Ticket.create(number=number, title="printer on fire", using_db=conn)
    await OutboundEmail.create(
        ticket=ticket, message_id="<TT1.c1.aaa111@helpdesk.test>", subject="[TT1] Printer",
        text_body="hi", status=DeliveryStatus.SENT,
    )
    await Contact.create(name="Customer 7", email="c7@example2.com")
    settings = SmtpSettings(sender_address=OUR_ADDRESS, sender_name="Support")
    if smtp is not None:
        settings.host, settings.port = "127.0.0.1", smtp.plain_port
        settings.security, settings.auth = Encryption.NONE, SmtpAuth.NONE
    await settings.save()
    return ticket
