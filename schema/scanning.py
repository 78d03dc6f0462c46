"""Scanning shapes: connection tests, live folders, scan runs, the message log, retries."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

import strawberry

from .. import models
from ..transport.errors import ErrorCode as MailErrorCodeModel
from ..transport.folders import FolderInfo
from .enums import MessageOutcomeEnum, ScanRunStatusEnum
from .errors import NotFoundError

MailErrorCode = strawberry.enum(
    MailErrorCodeModel, name="MailErrorCode", description="Why talking to the mail server failed"
)


@strawberry.type(name="MailFolder", description="A folder of the live mailbox")
class MailFolderType:
    name: str = strawberry.field(description="Full decoded path, e.g. Tickets/Done")
    delimiter: str | None = strawberry.field(description="The server's hierarchy delimiter")
    parts: list[str] = strawberry.field(description="The path split at the delimiter")
    flags: list[str]
    selectable: bool = strawberry.field(description="Whether it can hold mail (rules can use it)")
    special_use: str | None = strawberry.field(description="\\Sent, \\Trash, ... when marked")

    @classmethod
    def from_info(cls, f: FolderInfo) -> MailFolderType:
        return cls(
            name=f.name,
            delimiter=f.delimiter,
            parts=f.parts,
            flags=list(f.flags),
            selectable=f.selectable,
            special_use=f.special_use,
        )


@strawberry.type(description="The scanner logged in; here is what the server offers")
class ConnectionSuccess:
    folders: list[MailFolderType]
    capabilities: list[str]


@strawberry.type(description="Talking to the mail server failed; `message` says why, for a person")
class MailConnectionError:
    code: MailErrorCode  # type: ignore[valid-type]
    message: str


@strawberry.type(description="The live folder list of the scanner's mailbox")
class ScannerFolderList:
    folders: list[MailFolderType]


TestScannerConnectionResult = Annotated[
    ConnectionSuccess | MailConnectionError | NotFoundError,
    strawberry.union("TestScannerConnectionResult"),
]
ScannerFoldersResult = Annotated[
    ScannerFolderList | MailConnectionError | NotFoundError,
    strawberry.union("ScannerFoldersResult"),
]


@strawberry.type
class ScanCounts:
    seen: int
    matched: int
    tickets_created: int
    tickets_updated: int
    comments_added: int
    contacts_created: int
    moved: int
    deleted: int
    skipped: int
    errors: int
    imported: int = strawberry.field(
        description="Mail from before scanning began, imported as history (importHistoryAs)"
    )

    @classmethod
    def from_dict(cls, counts: dict[str, int]) -> ScanCounts:
        return cls(**{name: int(counts.get(name, 0)) for name in models.COUNT_NAMES})


@strawberry.enum(description="What a scan warns about")
class ScanWarningCode(enum.Enum):
    FOLDER_MISSING = "FOLDER_MISSING"


@strawberry.type(description="A rule that a warning concerns")
class ScanWarningRule:
    id: strawberry.ID
    name: str


@strawberry.type(
    description="Something an admin should fix that did not stop the scan (e.g. a rule's "
    "folder is gone: the other folders were scanned, the run succeeded, no backoff)"
)
class ScanWarning:
    code: ScanWarningCode
    message: str
    folder: str | None = strawberry.field(description="The folder concerned")
    rules: list[ScanWarningRule] = strawberry.field(description="The rules that use it")

    @classmethod
    def from_json(cls, items: Any) -> list[ScanWarning]:
        out = []
        for item in items or []:
            try:
                code = ScanWarningCode(item.get("code"))
            except ValueError:
                continue  # written by a newer version: not ours to show
            rules = [
                ScanWarningRule(id=strawberry.ID(str(r.get("id"))), name=str(r.get("name", "")))
                for r in item.get("rules") or []
            ]
            out.append(cls(code=code, message=str(item.get("message", "")),
                           folder=item.get("folder"), rules=rules))
        return out


@strawberry.type(name="ScanRun", description="One scan of one scanner")
class ScanRunType:
    id: strawberry.ID
    scanner_id: strawberry.ID
    status: ScanRunStatusEnum  # type: ignore[valid-type]
    trigger: str
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts: ScanCounts
    processed: int = strawberry.field(description="Messages done so far (live)")
    total: int = strawberry.field(description="Messages found to process so far (live)")
    error: str | None
    warnings: list[ScanWarning] = strawberry.field(
        description="What the scan could not do although it succeeded (e.g. a missing folder)"
    )

    @classmethod
    def from_model(cls, m: models.ScanRun) -> ScanRunType:
        return cls(
            id=strawberry.ID(str(m.id)),
            scanner_id=strawberry.ID(str(m.scanner_id)),  # type: ignore[attr-defined]
            status=m.status,
            trigger=m.trigger,
            queued_at=m.queued_at,
            started_at=m.started_at,
            finished_at=m.finished_at,
            counts=ScanCounts.from_dict(m.counts or {}),
            processed=m.processed,
            total=m.total,
            error=m.error,
            warnings=ScanWarning.from_json(m.warnings),
        )


@strawberry.type(description="What one action did to one message")
class MessageAction:
    type: str
    outcome: str = strawberry.field(
        description="done, skipped, duplicate or pending (IMAP, after commit)"
    )
    detail: str
    rule_id: strawberry.ID | None
    rule_name: str | None = strawberry.field(description="Kept after the rule is deleted")


def _id(value: Any) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


@strawberry.type(name="MessageLogEntry", description="What the scanner did with one message")
class MessageLogType:
    id: strawberry.ID
    scanner_id: strawberry.ID
    scan_run_id: strawberry.ID | None
    folder: str
    uidvalidity: str = strawberry.field(description="IMAP UIDVALIDITY (as text: it exceeds Int)")
    uid: str = strawberry.field(description="IMAP UID (as text: it may exceed Int)")
    message_id: str | None
    subject: str
    sender: str
    outcome: MessageOutcomeEnum  # type: ignore[valid-type]
    reason: str | None
    rule_id: strawberry.ID | None = strawberry.field(description="Null once the rule is deleted")
    rule_name: str | None = strawberry.field(
        description="The rule that matched; kept when the rule is deleted"
    )
    actions: list[MessageAction]
    side_effects_pending: bool = strawberry.field(
        description="IMAP flag/move/delete not yet applied"
    )
    ticket_id: strawberry.ID | None
    comment_id: strawberry.ID | None
    contact_id: strawberry.ID | None
    retryable: bool = strawberry.field(description="Quarantined with its raw message kept")
    created_at: datetime

    @classmethod
    def from_model(cls, m: models.MessageLog) -> MessageLogType:
        a: Any = m
        return cls(
            id=strawberry.ID(str(m.id)),
            scanner_id=strawberry.ID(str(a.scanner_id)),
            scan_run_id=_id(a.scan_run_id),
            folder=m.folder,
            uidvalidity=str(m.uidvalidity),
            uid=str(m.uid),
            message_id=m.message_id,
            subject=m.subject,
            sender=m.sender,
            outcome=m.outcome,
            reason=m.reason,
            rule_id=_id(a.rule_id),
            rule_name=m.rule_name,
            actions=[
                MessageAction(
                    type=str(x.get("type", "")),
                    outcome=str(x.get("outcome", "")),
                    detail=str(x.get("detail", "")),
                    rule_id=_id(x.get("rule_id")),
                    rule_name=x.get("rule_name"),
                )
                for x in (m.actions or [])
            ],
            side_effects_pending=m.side_effects == models.SideEffects.PENDING,
            ticket_id=_id(a.ticket_id),
            comment_id=_id(a.comment_id),
            contact_id=_id(a.contact_id),
            retryable=m.outcome == models.MessageOutcome.QUARANTINED and m.raw_message is not None,
            created_at=m.created_at,
        )


@strawberry.input(description="Narrow the message log")
class MessageLogFilter:
    outcome: MessageOutcomeEnum | None = None  # type: ignore[valid-type]
    folder: str | None = None
    search: str | None = strawberry.field(
        default=None, description="Subject, sender or Message-ID contains"
    )


@strawberry.type
class RetryMessagePayload:
    message_log: MessageLogType


@strawberry.type(description="The message cannot be retried (not quarantined, or nothing kept)")
class RetryNotPossible:
    message: str


RetryMessageResult = Annotated[
    RetryMessagePayload | RetryNotPossible | NotFoundError, strawberry.union("RetryMessageResult")
]
