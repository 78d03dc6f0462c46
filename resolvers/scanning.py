"""Scanning queries and mutations (admin only): connection test, live folders, runs, log, retry.

`testScannerConnection` and `scannerFolders` talk to the mail server during the request,
bounded by a timeout: an admin configuring a scanner waits for exactly that answer, and
the issue asks for it inline. Retrying a message runs its database part now and leaves its
IMAP side effects to the scanner's next scan (no other IMAP inside a request).
"""

from __future__ import annotations

import asyncio

import strawberry
from tortoise.expressions import Q

from .. import models
from ..schema.pagination import Connection
from ..schema.scanning import (
    ConnectionSuccess,
    MailConnectionError,
    MailFolderType,
    MessageLogFilter,
    MessageLogType,
    RetryMessagePayload,
    RetryMessageResult,
    RetryNotPossible,
    ScannerFolderList,
    ScannerFoldersResult,
    ScanRunType,
    TestScannerConnectionResult,
)
from ..transport.errors import ErrorCode as MailErrorCode
from ..transport.errors import MailError
from .common import PublicError, get_or_none, not_found, paginate, parse_id
from .context import Info
from .permissions import IsAdmin

SERVER_TIMEOUT = 45.0  # seconds a request may wait for the mail server


def _timeout_error() -> MailConnectionError:
    return MailConnectionError(
        code=MailErrorCode.TIMEOUT,
        message="The mail server did not answer in time.",
    )


@strawberry.type
class ScanningQueries:
    @strawberry.field(
        permission_classes=[IsAdmin],
        description="The live folder list of a scanner's mailbox (connects now)",
    )
    async def scanner_folders(self, info: Info, id: strawberry.ID) -> ScannerFoldersResult:
        from ..scanning.connect import list_folders

        scanner = await get_or_none(models.Scanner, id)
        if scanner is None:
            return not_found("Scanner", id)
        try:
            folders = await asyncio.wait_for(list_folders(scanner), SERVER_TIMEOUT)
        except MailError as exc:
            return MailConnectionError(code=exc.code, message=exc.message)
        except TimeoutError:
            return _timeout_error()
        return ScannerFolderList(folders=[MailFolderType.from_info(f) for f in folders])

    @strawberry.field(permission_classes=[IsAdmin], description="A scanner's runs, newest first")
    async def scan_runs(
        self,
        info: Info,
        scanner_id: strawberry.ID,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[ScanRunType]:
        number = parse_id(scanner_id, "scannerId")
        qs = models.ScanRun.filter(scanner_id=number).order_by("-id")
        return await paginate(qs, first, after, ScanRunType.from_model)

    @strawberry.field(permission_classes=[IsAdmin])
    async def scan_run(self, info: Info, id: strawberry.ID) -> ScanRunType | None:
        row = await get_or_none(models.ScanRun, id)
        return ScanRunType.from_model(row) if row else None

    @strawberry.field(
        permission_classes=[IsAdmin],
        description="What the scanner did with each message; give scanRunId or scannerId",
    )
    async def message_log(
        self,
        info: Info,
        scan_run_id: strawberry.ID | None = None,
        scanner_id: strawberry.ID | None = None,
        filter: MessageLogFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[MessageLogType]:
        if scan_run_id is None and scanner_id is None:
            raise PublicError("give scanRunId or scannerId")
        qs = models.MessageLog.all()
        if scan_run_id is not None:
            qs = qs.filter(scan_run_id=parse_id(scan_run_id, "scanRunId"))
        if scanner_id is not None:
            qs = qs.filter(scanner_id=parse_id(scanner_id, "scannerId"))
        if filter is not None:
            if filter.outcome is not None:
                qs = qs.filter(outcome=filter.outcome)
            if filter.folder is not None:
                qs = qs.filter(folder=filter.folder)
            if filter.search:
                term = filter.search
                qs = qs.filter(
                    Q(subject__icontains=term)
                    | Q(sender__icontains=term)
                    | Q(message_id__icontains=term)
                )
        return await paginate(qs.order_by("-id"), first, after, MessageLogType.from_model)


@strawberry.type
class ScanningMutations:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Connect and log in with the saved settings; lists folders and capabilities",
    )
    async def test_scanner_connection(
        self, info: Info, id: strawberry.ID
    ) -> TestScannerConnectionResult:
        from ..scanning.connect import test_connection

        scanner = await get_or_none(models.Scanner, id)
        if scanner is None:
            return not_found("Scanner", id)
        try:
            report = await asyncio.wait_for(test_connection(scanner), SERVER_TIMEOUT)
        except TimeoutError:
            return _timeout_error()
        if not report.ok:
            return MailConnectionError(
                code=report.error_code,
                message=report.error_message or "",
            )
        return ConnectionSuccess(
            folders=[MailFolderType.from_info(f) for f in report.folders],
            capabilities=list(report.capabilities),
        )

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Process a quarantined message again (after fixing its rule)",
    )
    async def retry_message(self, info: Info, log_id: strawberry.ID) -> RetryMessageResult:
        from ..scanning.retry import RetryError
        from ..scanning.retry import retry_message as retry

        row = await get_or_none(models.MessageLog, log_id)
        if row is None:
            return not_found("Message log entry", log_id)
        try:
            log = await retry(row.id, settings=info.context.settings, apply_side_effects=False)
        except RetryError as exc:
            return RetryNotPossible(message=str(exc))
        return RetryMessagePayload(message_log=MessageLogType.from_model(log))
