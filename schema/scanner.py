"""Mail scanners (one mailbox each). The password is input-only: the output says `hasPassword`."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import strawberry

from .. import models
from .enums import (
    AuthTypeEnum,
    EncryptionEnum,
    MicrosoftAuthEnum,
    ProtocolEnum,
    PushStateEnum,
    ScanTypeEnum,
    StartFromEnum,
    TicketStatusEnum,
)
from .errors import NotFoundError, ValidationError
from .rule import RuleType
from .scanning import ScanWarning


@strawberry.type(name="PushStatus", description="How the watcher of the mailbox stands")
class PushStatusType:
    state: PushStateEnum = strawberry.field(  # type: ignore[valid-type]
        description="IDLING: the server reports new mail at once; POLLING: the server has no "
        "IDLE, checked at the scan interval; CONNECTING; BACKING_OFF: after an error"
    )
    since: datetime | None = strawberry.field(description="When it entered this state")
    last_event_at: datetime | None = strawberry.field(
        description="When the server last reported new mail"
    )
    last_error: str | None = strawberry.field(description="Why the last connection failed")


@strawberry.type(name="ScannerHealth")
class ScannerHealthType:
    last_scan_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    failure_count: int
    warnings: list[ScanWarning] = strawberry.field(
        description="From the last successful scan: what to fix although scanning goes on "
        "(e.g. FOLDER_MISSING names the folder and the rules that read it); empty when none"
    )
    scanner_row_id: strawberry.Private[int]

    @strawberry.field(
        description="The push watcher of the mailbox; null when nobody watches it (push off, "
        "inactive, no rules, or no watcher process running)"
    )
    async def push(self, info: strawberry.Info[Any, Any]) -> PushStatusType | None:
        row: models.PushStatus | None = await info.context.loaders.push_status_by_scanner.load(
            self.scanner_row_id
        )
        if row is None or row.state is None:
            return None
        return PushStatusType(
            state=row.state,
            since=row.since,
            last_event_at=row.last_event_at,
            last_error=row.last_error,
        )


@strawberry.type(name="Scanner", description="A mailbox read over IMAP")
class ScannerType:
    id: strawberry.ID
    name: str
    active: bool
    auth_type: AuthTypeEnum  # type: ignore[valid-type]
    host: str
    port: int | None
    effective_port: int
    protocol: ProtocolEnum  # type: ignore[valid-type]
    encryption: EncryptionEnum  # type: ignore[valid-type]
    validate_certificate: bool
    scan_type: ScanTypeEnum  # type: ignore[valid-type]
    username: str
    has_password: bool = strawberry.field(
        description="Whether a password is stored; it is never returned"
    )
    mailbox_name: str | None
    address: str | None = strawberry.field(
        description="The address the mailbox receives mail for, when set explicitly")
    microsoft_auth: MicrosoftAuthEnum = strawberry.field(  # type: ignore[valid-type]
        description="Microsoft OAuth: DELEGATED (an authorized account) or APP_ONLY (the "
        "app's client credentials, no account)")
    oauth_account_id: strawberry.ID | None
    scan_interval_minutes: int
    push: bool = strawberry.field(
        description="Watch the mailbox (IMAP IDLE) so new mail is scanned within seconds"
    )
    start_from: StartFromEnum = strawberry.field(  # type: ignore[valid-type]
        description="Where scanning starts; fixed once the scanner was activated or scanned"
    )
    start_date: date | None = strawberry.field(
        description="With startFrom DATE: mail received before this day is never read"
    )
    import_history_as: TicketStatusEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="Mail there before scanning began becomes tickets with this status"
    )
    health: ScannerHealthType
    row_id: strawberry.Private[int]

    @strawberry.field(description="Rules in evaluation order")
    async def rules(self, info: strawberry.Info[Any, Any]) -> list[RuleType]:
        rows: list[models.Rule] = await info.context.loaders.rules_by_scanner.load(self.row_id)
        return [RuleType.from_model(r) for r in rows]

    @classmethod
    def from_model(cls, m: models.Scanner) -> ScannerType:
        oauth_id = m.oauth_account_id  # type: ignore[attr-defined]
        return cls(
            id=strawberry.ID(str(m.id)), name=m.name, active=m.active, auth_type=m.auth_type,
            host=m.host, port=m.port, effective_port=m.effective_port, protocol=m.protocol,
            encryption=m.encryption, validate_certificate=m.validate_certificate,
            scan_type=m.scan_type, username=m.username, has_password=m.has_password,
            mailbox_name=m.mailbox_name, address=m.address, microsoft_auth=m.microsoft_auth,
            oauth_account_id=strawberry.ID(str(oauth_id)) if oauth_id else None,
            scan_interval_minutes=m.scan_interval_minutes, push=m.push,
            start_from=m.start_from, start_date=m.start_date,
            import_history_as=m.import_history_as,
            health=ScannerHealthType(last_scan_at=m.last_scan_at, last_success_at=m.last_success_at,
                                     last_error=m.last_error, failure_count=m.failure_count,
                                     warnings=ScanWarning.from_json(m.warnings),
                                     scanner_row_id=m.id),
            row_id=m.id)


@strawberry.input(description="Scanner fields; on update, omitted fields keep their value")
class ScannerInput:
    name: str | None = None
    auth_type: AuthTypeEnum | None = None  # type: ignore[valid-type]
    host: str | None = None
    port: int | None = None
    encryption: EncryptionEnum | None = None  # type: ignore[valid-type]
    validate_certificate: bool | None = None
    scan_type: ScanTypeEnum | None = None  # type: ignore[valid-type]
    username: str | None = None
    password: str | None = strawberry.field(
        default=None, description="Write-only; stored encrypted"
    )
    mailbox_name: str | None = strawberry.field(
        default=None, description="OAuth: the mailbox address to read (Google: the account's "
        "own address)")
    address: str | None = strawberry.field(
        default=None, description="The address this mailbox receives mail for, when neither "
        "the username nor the mailbox name is it (the SMTP settings check their sender "
        "against it)")
    microsoft_auth: MicrosoftAuthEnum | None = None  # type: ignore[valid-type]
    oauth_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="OAuth (delegated Microsoft, Google): the authorized account")
    scan_interval_minutes: int | None = None
    push: bool | None = strawberry.field(
        default=None,
        description="Watch the mailbox with IMAP IDLE (default on); one connection per folder",
    )
    start_from: StartFromEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description=(
            "ALL: the scan type alone decides (default); NOW: only mail arriving after "
            "activation; DATE: only mail received on or after startDate. Cannot change once "
            "the scanner was activated or scanned"
        ),
    )
    start_date: date | None = strawberry.field(
        default=None, description="For startFrom DATE (IMAP INTERNALDATE, whole days)"
    )


@strawberry.type
class ScannerPayload:
    scanner: ScannerType


@strawberry.type
class DeletePayload:
    id: strawberry.ID


@strawberry.type(
    description="The scanner has history that deleting it would erase: its message log (what "
    "happened to each mail, which rule acted, quarantined mail kept for retry) and its scan "
    "runs. Tickets, comments and contacts are kept either way. Deactivate the scanner to keep "
    "the history, or call deleteScanner again with deleteHistory: true"
)
class ScannerHasHistory:
    message: str
    message_log_entries: int = strawberry.field(description="Message-log rows that would go")
    scan_runs: int = strawberry.field(description="Scan runs that would go")


ScannerResult = Annotated[
    ScannerPayload | ValidationError | NotFoundError, strawberry.union("ScannerResult")
]
DeleteResult = Annotated[DeletePayload | NotFoundError, strawberry.union("DeleteResult")]
DeleteScannerResult = Annotated[
    DeletePayload | NotFoundError | ScannerHasHistory, strawberry.union("DeleteScannerResult")
]
