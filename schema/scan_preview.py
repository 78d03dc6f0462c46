"""Shapes for "how much would this scanner read?": scanPreview, and activateScanner's answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from .enums import StartFromEnum
from .errors import NotFoundError, ValidationError
from .scanner import ScannerType
from .scanning import MailConnectionError

if TYPE_CHECKING:
    from .. import models
    from ..scanning.preview import FolderPreview


@strawberry.type(description="One folder the rules use: its mail, and what the scan would read")
class FolderScanPreview:
    folder: str
    messages: int = strawberry.field(description="Messages in the folder")
    would_scan: int = strawberry.field(description="Messages the next scan would read")
    scan_type_picks: int = strawberry.field(
        description="Messages the scan type alone would read, from scratch (not yet processed)"
    )
    left_alone: int = strawberry.field(
        description="Picked by the scan type, but not read: before the start, or behind the "
        "checkpoint"
    )
    oldest: datetime | None = strawberry.field(description="Earliest arrival in the folder")
    newest: datetime | None
    first_to_scan: datetime | None = strawberry.field(
        description="Earliest arrival among the mail the scan would read"
    )
    last_to_scan: datetime | None
    dates_approximate: bool = strawberry.field(
        description="Over 20,000 messages: dates read from the lowest and highest 1,000 UIDs"
    )
    error: str | None = strawberry.field(description="Why the folder could not be counted")
    summary: str = strawberry.field(description='e.g. "4,812 messages, 37 would be scanned"')

    @classmethod
    def from_preview(cls, p: FolderPreview) -> FolderScanPreview:
        return cls(
            folder=p.folder, messages=p.messages, would_scan=p.would_scan,
            scan_type_picks=p.scan_type_picks, left_alone=p.left_alone, oldest=p.oldest,
            newest=p.newest, first_to_scan=p.first_to_scan, last_to_scan=p.last_to_scan,
            dates_approximate=p.dates_approximate, error=p.error, summary=p.summary,
        )


@strawberry.type(description="What the scanner's next scan would read, folder by folder")
class ScanPreview:
    scanner_id: strawberry.ID
    start_from: StartFromEnum  # type: ignore[valid-type]
    start_date: date | None
    started: bool = strawberry.field(description="Activated or scanned before: checkpoints rule")
    messages: int
    would_scan: int
    left_alone: int
    folders: list[FolderScanPreview]

    @classmethod
    def build(
        cls, scanner: models.Scanner, folders: list[FolderPreview], started: bool
    ) -> ScanPreview:
        return cls(
            scanner_id=strawberry.ID(str(scanner.id)), start_from=scanner.start_from,
            start_date=scanner.start_date, started=started,
            messages=sum(f.messages for f in folders),
            would_scan=sum(f.would_scan for f in folders),
            left_alone=sum(f.left_alone for f in folders),
            folders=[FolderScanPreview.from_preview(f) for f in folders],
        )


@strawberry.type(description="The scanner is active; here is what its first scan will read")
class ScannerActivated:
    scanner: ScannerType
    first_scan: ScanPreview | None = strawberry.field(
        description="Counted at activation; null when the mailbox could not be reached"
    )
    first_scan_error: str | None = strawberry.field(
        description="Why the mailbox could not be counted (the scanner is active all the same; "
        "each folder's start is then taken at its first read)"
    )


ScanPreviewResult = Annotated[
    ScanPreview | NotFoundError | MailConnectionError, strawberry.union("ScanPreviewResult")
]
ActivateScannerResult = Annotated[
    ScannerActivated | ValidationError | NotFoundError, strawberry.union("ActivateScannerResult")
]
