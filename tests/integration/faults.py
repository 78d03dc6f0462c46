"""What the fault-injection suite (test_fault_injection.py) builds and counts.

A mailbox whose every mail has a Message-ID known in advance, a few of them replies to
tickets that exist beforehand (they must become comments, the others tickets), and a
`tally` that compares the database and the server with that list: per Message-ID exactly
one ticket or comment, and no mail marked \\Seen on the server without its ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from mailscanner.models import (
    Account,
    Comment,
    Contact,
    MessageLog,
    Scanner,
    ScanRun,
    ScanRunStatus,
    ScanType,
    Ticket,
)
from mailscanner.settings import Settings

from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner

REPLY_EVERY = 5  # every 5th mail answers an existing ticket (a comment, not a ticket)
MOVE_EVERY = 10  # every 10th mail (not a reply) is moved to "Done" besides
TARGETS = 4  # tickets that exist before the scan, for the replies
SENDERS = 7  # distinct customers: contacts are created once each, never twice


# Message-IDs as the database keeps them: without the angle brackets of the header.
def message_id(tag: str, i: int) -> str:
    return f"fault-{tag}-{i}@customer.example"


def _target_id(tag: str, n: int) -> str:
    return f"first-{tag}-{n}@customer.example"


@dataclass
class Mailbox:
    """A mailbox and its scanner; `ids` are the Message-IDs of every mail put into it."""

    user: ImapUser
    scanner: Scanner
    tag: str
    ids: list[str] = field(default_factory=list)

    def add(self, count: int) -> None:
        """Append `count` more mails to INBOX (MULTIAPPEND in one connection)."""
        mails = []
        for i in range(len(self.ids), len(self.ids) + count):
            mid, tag = message_id(self.tag, i), self.tag
            self.ids.append(mid)
            sender = f"Customer {i % SENDERS} <c{i % SENDERS}-{tag}@customer.example>"
            if i % REPLY_EVERY == REPLY_EVERY - 1:
                target = f"<{_target_id(tag, i % TARGETS)}>"
                mails.append(mail(f"Re: earlier {i % TARGETS}", sender=sender,
                                  message_id=f"<{mid}>", body=f"answer {i}\n",
                                  headers={"In-Reply-To": target, "References": target}))
            else:
                verb = "move" if i % MOVE_EVERY == 0 else "ask"
                mails.append(mail(f"{verb} {i}", sender=sender, message_id=f"<{mid}>",
                                  body=f"question {i}\n"))
        self.user.append("INBOX", mails)


async def fill(
    user: ImapUser, tag: str, count: int, scan_type: ScanType = ScanType.UNREAD
) -> Mailbox:
    """`count` mails in INBOX, the tickets the replies among them answer, and a scanner
    (reading unread mail, or by `scan_type`) whose rules move every 10th mail to "Done"
    and make tickets of all."""
    account = await Account.create(name=f"Faults {tag}", domain="customer.example")
    contact = await Contact.create(name="First", email=f"first-{tag}@customer.example",
                                   account=account)
    for n in range(TARGETS):
        await Ticket.create(number=f"TT9{n:04d}", title=f"earlier {n}", contact=contact,
                            account=account, source_message_id=_target_id(tag, n))
    scanner = await make_scanner(user, scan_type=scan_type)
    await add_rule(scanner, 'subject begins with "move"',
                   [TICKET, {"type": "move_to_folder", "folder": "Done"}])
    await add_rule(scanner, "size > 0", [{"type": "create_contact"}, TICKET])
    box = Mailbox(user, scanner, tag)
    box.add(count)
    return box


@dataclass
class Tally:
    """How the mailbox and the database compare after a fault scenario."""

    scenario: str
    seed: int
    trials: int
    messages: int
    lost: list[str] = field(default_factory=list)  # no ticket, no comment
    duplicated: list[str] = field(default_factory=list)  # more than one
    seen_without_ticket: list[str] = field(default_factory=list)
    contacts_duplicated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.seen_without_ticket
                    or self.contacts_duplicated)

    def line(self) -> str:
        return (f"[faults] {self.scenario}: seed {self.seed}, trials {self.trials}, "
                f"messages {self.messages}, lost {len(self.lost)}, "
                f"duplicated {len(self.duplicated)}, "
                f"seen without ticket {len(self.seen_without_ticket)}, "
                f"contacts duplicated {len(self.contacts_duplicated)}"
                + ("" if self.ok else f"; e.g. lost {self.lost[:3]} duplicated "
                   f"{self.duplicated[:3]} seen {self.seen_without_ticket[:3]}"))


def _server_ids(user: ImapUser) -> dict[str, bool]:
    """Message-ID -> flagged \\Seen, for every mail in every folder of the mailbox."""
    out: dict[str, bool] = {}
    with user.client() as c:
        for _flags, _sep, name in c.list_folders():
            c.select_folder(name, readonly=True)
            uids = c.search("ALL")
            if not uids:
                continue
            data = c.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            for item in data.values():
                header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode()
                mid = header.partition(":")[2].strip().strip("<>")
                out[mid] = SEEN in item[b"FLAGS"]
    return out


async def tally(box: Mailbox, scenario: str, seed: int, trials: int) -> Tally:
    """Count, per Message-ID of the mailbox, its tickets and comments, and compare."""
    result = Tally(scenario, seed, trials, len(box.ids))
    made: Counter[str] = Counter()
    tickets = await Ticket.filter(source_message_id__in=box.ids).values_list(
        "source_message_id", flat=True)
    comments = await Comment.filter(message_id__in=box.ids).values_list("message_id", flat=True)
    made.update(cast("list[str]", [*tickets, *comments]))
    result.lost = [m for m in box.ids if made[m] == 0]
    result.duplicated = [m for m in box.ids if made[m] > 1]
    on_server = _server_ids(box.user)
    result.seen_without_ticket = [m for m in box.ids if on_server.get(m) and made[m] == 0]
    emails = Counter(cast("list[str]", await Contact.filter(
        email__endswith="@customer.example").values_list("email", flat=True)))
    result.contacts_duplicated = [e for e, n in emails.items() if n > 1]
    assert len(on_server) == len(box.ids), "mail disappeared from the server"
    return result


class Pace:
    """Seconds between two batch commits of one scan process, as seen from outside (its log
    row count jumps); the time before a process's first commit is its start, not a batch."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.restart()

    def restart(self) -> None:
        self.rows, self.at, self.commits = -1, 0.0, 0

    def saw(self, rows: int) -> int:
        if self.rows >= 0 and rows != self.rows:
            now = time.monotonic()
            if self.commits:
                self.gaps.append(now - self.at)
            self.at, self.commits = now, self.commits + 1
        self.rows = rows
        return rows

    def batch_seconds(self) -> float:
        recent = sorted(self.gaps[-9:])
        return recent[len(recent) // 2] if recent else 0.2


@dataclass
class Victim:
    """A `mailscanner scan` subprocess, watched through the database until its kill."""

    proc: subprocess.Popen[bytes]
    scanner_id: int
    pace: Pace
    last_run_id: int  # the newest run before this process started
    ran: bool = False  # its scan started (else the scanner's lock turned it away)

    def gone(self) -> bool:
        return self.proc.poll() is not None

    async def logged(self) -> int:
        return self.pace.saw(await MessageLog.filter(scanner_id=self.scanner_id).count())

    async def until(self, check: Callable[[], Awaitable[bool]], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.gone() and not await check():
            await asyncio.sleep(0.02)

    async def started(self) -> bool:
        self.ran = self.ran or await ScanRun.filter(
            id__gt=self.last_run_id, status=ScanRunStatus.RUNNING).exists()
        return self.ran

    async def kill_at(self, rows: int, delay: Callable[[], float]) -> int | None:
        """SIGKILL the process once its scan runs, `rows` mails are logged and `delay()`
        seconds more passed; the log rows then, or None if it ended by itself first."""
        self.pace.restart()
        await self.until(self.started, 60)
        if not await self.started():
            return None
        await self.until(lambda: self._reached(rows), 60)
        await self.until(self._never, delay())  # polling: learns how long a batch takes
        if self.gone():
            return None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        return await MessageLog.filter(scanner_id=self.scanner_id).count()

    async def _reached(self, rows: int) -> bool:
        return await self.logged() >= rows

    async def _never(self) -> bool:
        await self.logged()
        return False


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `mailscanner` subprocess on the test's database (no Redis)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAILSCANNER_", "REDIS_URL", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=settings.database_url,
        MAILSCANNER_DATA_DIR=str(settings.data_dir),
        MAILSCANNER_SECRET_KEY=settings.secret_key,
        MAILSCANNER_PUBLIC_URL=settings.public_url,
        MAILSCANNER_MESSAGE_ID_DOMAIN=settings.message_id_domain,
    )
    env.update(extra)
    return env


def session_members(sid: int) -> list[int]:
    """Live processes of session `sid` (a child started with start_new_session=True and what
    it started: the parse processes and their fork server)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X") and int(fields[3]) == sid:
            out.append(int(stat.parent.name))
    return out


def reap_session(sid: int, wait: float = 3.0) -> list[int]:
    """Wait for the processes a killed scan left behind to exit by themselves; SIGKILL those
    still there after `wait` seconds (they were started by this test) and return their pids."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and session_members(sid):
        time.sleep(0.05)
    left = session_members(sid)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left
