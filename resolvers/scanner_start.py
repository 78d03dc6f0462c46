"""Where a scanner starts: `activateScanner` (records each folder's start, says what the
first scan will read, optionally imports the mail already there as history) and
`scanPreview` (the same counts, any time). Both read the mailbox during the request,
bounded by SERVER_TIMEOUT, as `testScannerConnection` does: the admin waits for exactly
these numbers. An unreachable mailbox does not block activation (its counts are then
missing, and each folder's start is taken at its first read)."""

from __future__ import annotations

import asyncio

import strawberry

from .. import models
from ..schema.enums import TicketStatusEnum
from ..schema.errors import ErrorCode, InputErrors
from ..schema.scan_preview import (
    ActivateScannerResult,
    ScannerActivated,
    ScanPreview,
    ScanPreviewResult,
)
from ..schema.scanner import ScannerType
from ..schema.scanning import MailConnectionError
from ..transport.errors import MailError
from .common import get_or_none, not_found
from .context import Info
from .permissions import IsAdmin
from .scanning import SERVER_TIMEOUT, _timeout_error


async def _check(
    scanner: models.Scanner, history: models.TicketStatus | None, started: bool
) -> InputErrors:
    from ..scanning.start import LOCKED

    errors = InputErrors()
    if not await models.Rule.filter(scanner_id=scanner.id, active=True).exists():
        errors.add(
            "id", ErrorCode.INVALID, "Add at least one active rule before activating the scanner"
        )
    if history is not None and scanner.start_from == models.StartFrom.NOW:
        errors.add(
            "importHistoryAs", ErrorCode.INVALID,
            "startFrom NOW leaves the mail already there alone: there is no history to import",
        )
    if started and history is not None and history != scanner.import_history_as:
        errors.add("importHistoryAs", ErrorCode.START_LOCKED, LOCKED)
    return errors


@strawberry.type
class ScannerStartQueries:
    @strawberry.field(
        permission_classes=[IsAdmin],
        description=(
            "Per folder the rules use: the message count, how many the next scan would read "
            "(scan type, startFrom, checkpoint) and the date range; reads the mailbox now"
        ),
    )
    async def scan_preview(self, info: Info, id: strawberry.ID) -> ScanPreviewResult:
        from ..scanning.start import has_started, scan_preview

        scanner = await get_or_none(models.Scanner, id)
        if scanner is None:
            return not_found("Scanner", id)
        try:
            folders = await asyncio.wait_for(scan_preview(scanner), SERVER_TIMEOUT)
        except MailError as exc:
            return MailConnectionError(code=exc.code, message=exc.message)
        except TimeoutError:
            return _timeout_error()
        return ScanPreview.build(scanner, folders, await has_started(scanner))


@strawberry.type
class ScannerStartMutations:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description=(
            "Start scheduled scanning. The first activation records where each folder starts "
            "(startFrom) and answers what the first scan will read. importHistoryAs: the mail "
            "already there becomes tickets with this status and their original dates, "
            "without notifying anyone (fixed once the scanner started)"
        ),
    )
    async def activate_scanner(
        self,
        info: Info,
        id: strawberry.ID,
        import_history_as: TicketStatusEnum | None = None,  # type: ignore[valid-type]
    ) -> ActivateScannerResult:
        from ..scanning.start import has_started, scan_preview
        from ..workers.schedule import scanner_activation_changed

        scanner = await get_or_none(models.Scanner, id)
        if scanner is None:
            return not_found("Scanner", id)
        started = await has_started(scanner)
        history: models.TicketStatus | None = import_history_as
        errors = await _check(scanner, history, started)
        if errors.errors:
            return errors.as_result()
        if history is not None and not started:
            scanner.import_history_as = history
            await scanner.save(update_fields=["import_history_as", "updated_at"])
        preview, problem = None, None
        try:
            folders = await asyncio.wait_for(
                scan_preview(scanner, record_start=not started), SERVER_TIMEOUT
            )
            preview = ScanPreview.build(scanner, folders, started)
        except MailError as exc:
            problem = exc.message
        except TimeoutError:
            problem = _timeout_error().message
        scanner.active = True
        await scanner.save(update_fields=["active", "updated_at"])
        await scanner_activation_changed(scanner.id, True)
        return ScannerActivated(
            scanner=ScannerType.from_model(scanner), first_scan=preview, first_scan_error=problem
        )
