"""Mail scanners (one mailbox each). The password is input-only: the output says `hasPassword`."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from .. import models
from .enums import AuthTypeEnum, EncryptionEnum, MicrosoftAuthEnum, ProtocolEnum, ScanTypeEnum
from .errors import NotFoundError, ValidationError
from .rule import RuleType


@strawberry.type(name="ScannerHealth")
class ScannerHealthType:
    last_scan_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    failure_count: int


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
    microsoft_auth: MicrosoftAuthEnum = strawberry.field(  # type: ignore[valid-type]
        description="Microsoft OAuth: DELEGATED (an authorized account) or APP_ONLY (the "
        "app's client credentials, no account)")
    oauth_account_id: strawberry.ID | None
    scan_interval_minutes: int
    scan_from: datetime | None
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
            mailbox_name=m.mailbox_name, microsoft_auth=m.microsoft_auth,
            oauth_account_id=strawberry.ID(str(oauth_id)) if oauth_id else None,
            scan_interval_minutes=m.scan_interval_minutes, scan_from=m.scan_from,
            health=ScannerHealthType(last_scan_at=m.last_scan_at, last_success_at=m.last_success_at,
                                     last_error=m.last_error, failure_count=m.failure_count),
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
    microsoft_auth: MicrosoftAuthEnum | None = None  # type: ignore[valid-type]
    oauth_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="OAuth (delegated Microsoft, Google): the authorized account")
    scan_interval_minutes: int | None = None
    scan_from: datetime | None = None


@strawberry.type
class ScannerPayload:
    scanner: ScannerType


@strawberry.type
class DeletePayload:
    id: strawberry.ID


ScannerResult = Annotated[
    ScannerPayload | ValidationError | NotFoundError, strawberry.union("ScannerResult")
]
DeleteResult = Annotated[DeletePayload | NotFoundError, strawberry.union("DeleteResult")]
