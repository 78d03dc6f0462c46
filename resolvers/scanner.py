"""Scanner queries and mutations (admin only: scanners hold mailbox credentials)."""
from __future__ import annotations

from typing import Annotated

import strawberry
from tortoise.exceptions import IntegrityError

from .. import models
from ..schema.errors import ErrorCode, InputErrors
from ..schema.scanner import (
    DeletePayload,
    DeleteScannerResult,
    ScannerHasHistory,
    ScannerInput,
    ScannerPayload,
    ScannerResult,
    ScannerType,
)
from ..watch.supervisor import notify_scanner_changed
from .common import get_or_none, not_found, parse_id
from .context import Info
from .permissions import IsAdmin
from .validation import (
    check_host,
    check_length,
    check_port,
    check_positive,
    check_required,
    normalize_email_address,
)

_PLAIN_FIELDS = ("name", "auth_type", "host", "port", "encryption", "validate_certificate",
                 "scan_type", "username", "mailbox_name", "address", "microsoft_auth",
                 "scan_interval_minutes", "start_from", "start_date", "push")
_ACCOUNT_PROVIDER = {models.AuthType.MICROSOFT_OAUTH: models.OAuthProvider.MICROSOFT,
                     models.AuthType.GOOGLE_OAUTH: models.OAuthProvider.GOOGLE}


async def _validate(
    data: ScannerInput, creating: bool, current: models.Scanner | None
) -> InputErrors:
    errors = InputErrors()
    if creating:
        check_required(errors, "input.name", data.name)
        check_required(errors, "input.host", data.host)
    else:  # an update may leave a field out, but not blank a required one
        for field, value in (("input.name", data.name), ("input.host", data.host)):
            if value is not None:
                check_required(errors, field, value)
    check_length(errors, "input.name", data.name, 200)
    check_host(errors, "input.host", data.host)
    check_port(errors, "input.port", data.port)
    check_positive(errors, "input.scanIntervalMinutes", data.scan_interval_minutes, 24 * 60)
    # A helpdesk's own mailbox may well sit on an internal or reserved domain (.test, .local).
    if data.mailbox_name:
        data.mailbox_name = normalize_email_address(
            errors, "input.mailboxName", data.mailbox_name, internal_ok=True
        )
    if data.address:
        data.address = normalize_email_address(
            errors, "input.address", data.address, internal_ok=True
        )
    auth_type = data.auth_type or (current.auth_type if current else models.AuthType.PASSWORD)
    if auth_type in _ACCOUNT_PROVIDER:
        await _check_oauth(errors, data, creating, current, auth_type)
    if auth_type == models.AuthType.PASSWORD and creating:
        check_required(errors, "input.username", data.username)
    await _check_start(data, current, errors)
    if data.name and not errors.errors:
        clash = models.Scanner.filter(name=data.name)
        if current is not None:
            clash = clash.exclude(id=current.id)
        if await clash.exists():
            errors.add("input.name", ErrorCode.UNIQUE, "Another scanner already has this name")
    return errors


async def _check_start(
    data: ScannerInput, current: models.Scanner | None, errors: InputErrors
) -> None:
    """startFrom DATE needs a startDate (and only it uses one); neither changes once the
    scanner has started (scanning/start.py says why)."""
    from ..scanning.start import LOCKED, has_started

    start_from = data.start_from or (current.start_from if current else models.StartFrom.ALL)
    start_date = data.start_date if data.start_date is not None else (
        current.start_date if current else None
    )
    if start_from == models.StartFrom.DATE and start_date is None:
        errors.add("input.startDate", ErrorCode.REQUIRED, "startFrom DATE needs a startDate")
    if data.start_date is not None and start_from != models.StartFrom.DATE:
        errors.add(
            "input.startDate", ErrorCode.INVALID, "startDate is used only with startFrom DATE"
        )
    changes = current is not None and (
        (data.start_from is not None and data.start_from != current.start_from)
        or (data.start_date is not None and data.start_date != current.start_date)
    )
    if changes and current is not None and await has_started(current):
        field = "input.startFrom" if data.start_from is not None else "input.startDate"
        errors.add(field, ErrorCode.START_LOCKED, LOCKED)


async def _check_oauth(errors: InputErrors, data: ScannerInput, creating: bool,
                       current: models.Scanner | None, auth_type: models.AuthType) -> None:
    """The mailbox and account an OAuth scanner needs: a delegated Microsoft account (which
    may open shared mailboxes), none for app-only, or a Google account for its own mailbox."""
    if creating:
        check_required(errors, "input.mailboxName", data.mailbox_name)
    mailbox = data.mailbox_name or (current.mailbox_name if current else None) or ""
    app_only = (data.microsoft_auth or (current.microsoft_auth if current else None)
                ) == models.MicrosoftAuth.APP_ONLY
    account_id: int | None = None
    if data.oauth_account_id is not None:
        account_id = parse_id(data.oauth_account_id, "input.oauthAccountId", errors)
    elif current is not None:
        account_id = current.oauth_account_id  # type: ignore[attr-defined]
    if account_id is None or (auth_type == models.AuthType.MICROSOFT_OAUTH and app_only):
        return
    account = await models.OAuthAccount.get_or_none(id=account_id)
    wanted = _ACCOUNT_PROVIDER[auth_type]
    label = "Google" if wanted == models.OAuthProvider.GOOGLE else "Microsoft"
    if account is None or account.provider != wanted:
        errors.add("input.oauthAccountId", ErrorCode.NOT_FOUND,
                   f"No such authorized {label} account")
    elif (wanted == models.OAuthProvider.GOOGLE and mailbox
          and account.email.casefold() != mailbox.casefold()):
        errors.add("input.mailboxName", ErrorCode.INVALID,
                   f"The Google account {account.email} can open only its own mailbox: set "
                   f"the mailbox to {account.email}, or authorize {mailbox} "
                   "(startGoogleAuthorization)")


def _apply(scanner: models.Scanner, data: ScannerInput) -> None:
    for name in _PLAIN_FIELDS:
        value = getattr(data, name)
        if value is not None:
            setattr(scanner, name, value)
    if data.oauth_account_id is not None:
        scanner.oauth_account_id = int(data.oauth_account_id)
    if scanner.is_app_only:
        scanner.oauth_account_id = None  # app-only logs in with the app's own token
    if data.password is not None:
        scanner.set_password(data.password)


async def _save(scanner: models.Scanner) -> ScannerResult:
    try:
        await scanner.save()
    except IntegrityError:  # a concurrent create with the same name
        errors = InputErrors()
        errors.add("input.name", ErrorCode.UNIQUE, "Another scanner already has this name")
        return errors.as_result()
    return ScannerPayload(scanner=ScannerType.from_model(scanner))


async def _deactivate(id: strawberry.ID) -> ScannerResult:
    scanner = await get_or_none(models.Scanner, id)
    if scanner is None:
        return not_found("Scanner", id)
    scanner.active = False
    await scanner.save(update_fields=["active", "updated_at"])
    from ..workers.schedule import scanner_activation_changed
    await scanner_activation_changed(scanner.id, False)
    return ScannerPayload(scanner=ScannerType.from_model(scanner))


@strawberry.type
class ScannerQueries:
    @strawberry.field(permission_classes=[IsAdmin])
    async def scanners(self, info: Info) -> list[ScannerType]:
        return [ScannerType.from_model(s) for s in await models.Scanner.all().order_by("id")]

    @strawberry.field(permission_classes=[IsAdmin])
    async def scanner(self, info: Info, id: strawberry.ID) -> ScannerType | None:
        row = await get_or_none(models.Scanner, id)
        return ScannerType.from_model(row) if row else None


@strawberry.type
class ScannerMutations:
    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Create a scanner; it starts inactive"
    )
    async def create_scanner(self, info: Info, input: ScannerInput) -> ScannerResult:
        errors = await _validate(input, creating=True, current=None)
        if errors.errors:
            return errors.as_result()
        scanner = models.Scanner(active=False)
        _apply(scanner, input)
        return await _save(scanner)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_scanner(
        self, info: Info, id: strawberry.ID, input: ScannerInput
    ) -> ScannerResult:
        scanner = await get_or_none(models.Scanner, id)
        if scanner is None:
            return not_found("Scanner", id)
        errors = await _validate(input, creating=False, current=scanner)
        if errors.errors:
            return errors.as_result()
        _apply(scanner, input)
        result = await _save(scanner)
        # Watchers reconnect with the new settings, or close at once when push was turned off.
        await notify_scanner_changed(scanner.id)
        return result

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Delete a scanner with its rules. A scanner that has scanned has history "
        "(message log, scan runs) that goes with it: without deleteHistory: true it is not "
        "deleted and ScannerHasHistory says what would be lost",
    )
    async def delete_scanner(
        self,
        info: Info,
        id: strawberry.ID,
        delete_history: Annotated[bool, strawberry.argument(
            description="Confirm that the scanner's message log and scan runs are deleted too",
        )] = False,
    ) -> DeleteScannerResult:
        scanner = await get_or_none(models.Scanner, id)
        if scanner is None:
            return not_found("Scanner", id)
        logs = await models.MessageLog.filter(scanner_id=scanner.id).count()
        runs = await models.ScanRun.filter(scanner_id=scanner.id).count()
        if (logs or runs) and not delete_history:
            return ScannerHasHistory(
                message=f"Deleting {scanner.name} would also delete its history: {logs} "
                f"message-log entries and {runs} scan runs (tickets, comments and contacts "
                "stay). Deactivate it to keep the history, or confirm with deleteHistory: true.",
                message_log_entries=logs,
                scan_runs=runs,
            )
        await scanner.delete()
        await notify_scanner_changed(int(scanner.id))
        return DeletePayload(id=id)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Stop scheduled scanning")
    async def deactivate_scanner(self, info: Info, id: strawberry.ID) -> ScannerResult:
        return await _deactivate(id)
