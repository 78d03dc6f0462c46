"""From a Scanner row to a logged-in IMAP session; connection tests and live folder lists."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..models import AuthType, Scanner
from ..transport.errors import ErrorCode, ImapAuthError, MailError
from ..transport.folders import FolderInfo
from ..transport.imap import Encryption, ImapSession, ImapSettings

__all__ = [
    "ConnectionReport",
    "access_token",
    "imap_settings",
    "list_folders",
    "open_session",
    "test_connection",
]

logger = logging.getLogger(__name__)


async def access_token(scanner: Scanner) -> str | None:
    """A fresh XOAUTH2 access token for the scanner's mailbox (None: password login).

    Delegated Microsoft and Google scanners use their authorized account; app-only
    Microsoft scanners the app's own token. Raises ReauthorizationNeeded / OAuthError (from
    transport.providers) for OAuth trouble and a CONFIGURATION MailError when the scanner
    lacks what its auth type needs. Push watchers call this before each IDLE login too.
    """
    if scanner.auth_type == AuthType.PASSWORD:
        return None
    if scanner.is_app_only:
        from ..transport.providers.microsoft_app_only import app_only_token

        return await app_only_token()
    account_id = scanner.oauth_account_id  # type: ignore[attr-defined]
    if account_id is None:
        provider = "Google" if scanner.auth_type == AuthType.GOOGLE_OAUTH else "Microsoft"
        raise MailError(
            f"No authorized {provider} account is selected for this scanner.",
            code=ErrorCode.CONFIGURATION,
        )
    from ..transport.providers.tokens import get_access_token  # msal/google-auth: when used

    return await get_access_token(account_id)


async def imap_settings(scanner: Scanner) -> ImapSettings:
    """Connection settings for a scanner; OAuth scanners get a fresh XOAUTH2 token."""
    encryption: Encryption = scanner.encryption.value
    base = dict(
        host=scanner.host,
        port=scanner.effective_port,
        encryption=encryption,
        validate_certificate=scanner.validate_certificate,
        username=scanner.login_user,
    )
    token = await access_token(scanner)
    if token is not None:
        return ImapSettings(**base, access_token=token)  # type: ignore[arg-type]
    return ImapSettings(**base, password=scanner.get_password())  # type: ignore[arg-type]


async def open_session(scanner: Scanner) -> ImapSession:
    """A logged-in session for the scanner; raises a classified MailError."""
    try:
        return await ImapSession.open(await imap_settings(scanner))
    except ImapAuthError as exc:
        if scanner.is_app_only and exc.code == ErrorCode.LOGIN_REJECTED:
            # The token carries IMAP.AccessAsApp (checked when it was issued), so Exchange
            # refusing it means the service principal may not open this mailbox.
            from ..transport.providers.microsoft_app_only import mailbox_refused

            raise mailbox_refused(scanner.login_user, exc.detail) from exc
        raise


@dataclass(frozen=True)
class ConnectionReport:
    """The answer to "does this scanner's configuration work?"; never a traceback."""

    ok: bool
    folders: list[FolderInfo] = field(default_factory=list)
    capabilities: tuple[str, ...] = ()
    error_code: ErrorCode | None = None
    error_message: str | None = None


async def test_connection(scanner: Scanner) -> ConnectionReport:
    """Connect, log in and list folders; failures come back as a code and a human message."""
    try:
        async with await open_session(scanner) as session:
            folders = await session.list_folders()
            capabilities = await session.capabilities()
    except MailError as exc:
        logger.info(
            "connection test of scanner %s failed: %s (%s)",
            scanner.id,
            exc.code.value,
            exc.detail or exc.message,
        )
        return ConnectionReport(ok=False, error_code=exc.code, error_message=exc.message)
    return ConnectionReport(ok=True, folders=folders, capabilities=capabilities)


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


async def list_folders(scanner: Scanner) -> list[FolderInfo]:
    """The mailbox's live folder list (decoded names, with delimiters); raises MailError."""
    async with await open_session(scanner) as session:
        return await session.list_folders()
