"""What actions see: the scan's configuration and the one message being processed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from ..mail.parsing import ParsedEmail
from ..models import Comment, Contact, Scanner, Ticket, TicketStatus
from ..storage.attachments import AttachmentPolicy

__all__ = [
    "ActionOutcome",
    "Effect",
    "HistoryImport",
    "MessageContext",
    "ScanCache",
    "ScanConfig",
]

# An IMAP side effect to apply after commit: {"op": "seen"} | {"op": "move", "folder": ...}
# | {"op": "delete"}. Stored as JSON on the MessageLog row while pending.
Effect = dict[str, str]


@dataclass
class ScanCache:
    """Lookups reused across the messages of one scan (contacts by address, accounts by
    domain). Only the batch fast path uses it, and the pipeline clears it whenever a batch
    transaction rolls back, so it never holds a row that was not committed."""

    accounts: dict[str, int] | None = None  # domain -> account id, loaded once
    contacts: dict[str, Contact] = field(default_factory=dict)

    def clear(self) -> None:
        self.accounts = None
        self.contacts.clear()


@dataclass(frozen=True)
class ScanConfig:
    """Per-scan settings the actions need (read once, not per message)."""

    scanner: Scanner
    ticket_prefix: str
    message_id_domain: str
    sender_address: str = ""  # SmtpSettings.sender_address: mail from it is our own
    cache: ScanCache | None = None
    parse_processes: int = 0  # worker processes that parse fetched mail (0: in this one)
    # CPU seconds to parse and match one mail (budget.py); 0: no budget, and with
    # parse_processes=0 parsing then stays in this process (tests that patch it use that)
    message_budget_s: float = 0.0
    # Blob store and size limit for attachments (None: as the environment configures).
    attachments: AttachmentPolicy | None = None


@dataclass(frozen=True)
class HistoryImport:
    """A folder's mail from before scanning began (UID below its start, when the scanner
    imports history): it becomes tickets with `status` and their original dates, and no
    event announces it (nobody is woken for mail years old)."""

    status: TicketStatus
    below_uid: int

    def of(self, uid: int) -> TicketStatus | None:
        """The status for message `uid` when it is history, else None."""
        return self.status if uid < self.below_uid else None


@dataclass
class MessageContext:
    """One message inside its database transaction (`conn`); actions fill it in order."""

    config: ScanConfig
    email: ParsedEmail
    folder: str
    conn: BaseDBAsyncClient
    # Why DB-writing actions must not run (auto-reply, bounce, our own mail); None = normal.
    automated: str | None = None
    history: TicketStatus | None = None  # imported as history with this status (HistoryImport)
    contact: Contact | None = None
    ticket: Ticket | None = None
    comment: Comment | None = None
    effects: list[Effect] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    # (kind, ticket_id, extra) published with events.publish_ticket_event after commit.
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class ActionOutcome:
    """What one action did, as recorded in MessageLog.actions."""

    outcome: str  # done | skipped | duplicate | pending (an IMAP effect after commit)
    detail: str = ""
