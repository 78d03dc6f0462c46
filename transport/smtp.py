"""Sending mail with aiosmtplib, configured by the admin's SMTP settings.

Security: SSL/TLS on connect (465), STARTTLS (587, required, never silently skipped) or
none; certificate validation on by default. Authentication: none, username/password (the
client picks PLAIN/LOGIN), or XOAUTH2 with a token of an authorized Microsoft or Google
account, or Microsoft's app-only token (SMTP.SendAsApp) for the sender's mailbox.
Every failure leaves as a classified `SmtpError` (see smtp_errors.py).
"""
from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING

import aiosmtplib

from ..models.scanner import Encryption
from ..models.smtp_settings import SmtpAuth
from .errors import ErrorCode
from .smtp_connections import SmtpConnections, close_client, quit_client
from .smtp_errors import SmtpError, SmtpErrorCode, classify_smtp_error
from .tls import client_context

if TYPE_CHECKING:
    from ..models.smtp_settings import SmtpSettings

__all__ = ["SendResult", "SmtpConfig", "SmtpError", "SmtpErrorCode", "classify_smtp_error",
           "config_from_settings", "send_message", "test_smtp_connection"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpConfig:
    """Everything needed to connect; built from `SmtpSettings` with the password decrypted."""

    host: str
    port: int
    security: Encryption = Encryption.STARTTLS
    validate_certificate: bool = True
    auth: SmtpAuth = SmtpAuth.PASSWORD
    username: str = ""
    password: str | None = field(default=None, repr=False)
    oauth_account_id: int | None = None
    sender_address: str = ""
    sender_name: str = ""
    # Extra trust anchors (a private CA, or a test server's self-signed certificate).
    cafile: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class SendResult:
    """What the server said; `refused` lists recipients refused while others were accepted."""

    response: str
    refused: dict[str, str] = field(default_factory=dict)


def config_from_settings(row: SmtpSettings, *, cafile: str | None = None,
                         timeout: float = DEFAULT_TIMEOUT) -> SmtpConfig:
    """Turn the stored settings into a connection config; raises SmtpError if unusable."""
    if not row.host:
        raise SmtpError(SmtpErrorCode.NOT_CONFIGURED,
                        "Outgoing mail is not configured: set the SMTP host.", temporary=True)
    return SmtpConfig(
        host=row.host, port=row.effective_port, security=Encryption(row.security),
        validate_certificate=row.validate_certificate, auth=SmtpAuth(row.auth),
        username=row.username, password=row.get_password(),
        oauth_account_id=row.oauth_account_id,  # type: ignore[attr-defined]
        sender_address=row.sender_address, sender_name=row.sender_name,
        cafile=cafile, timeout=timeout)


def _tls_context(config: SmtpConfig) -> ssl.SSLContext:
    return client_context(config.validate_certificate, config.cafile)


async def _oauth_token(config: SmtpConfig) -> str:
    """The XOAUTH2 token for the configured auth: an authorized account's, or app-only."""
    # Imported lazily: the providers pull in msal/google-auth, and only XOAUTH2 needs them.
    if config.auth == SmtpAuth.MICROSOFT_APP_ONLY:
        from .providers.microsoft_app_only import SMTP_ROLE, app_only_token

        return await app_only_token(SMTP_ROLE)
    if config.oauth_account_id is None:
        raise SmtpError(SmtpErrorCode.OAUTH_TOKEN,
                        "XOAUTH2 is selected but no authorized account is set.",
                        temporary=False)
    from .providers.tokens import get_access_token

    return await get_access_token(config.oauth_account_id)


async def _authenticate(client: aiosmtplib.SMTP, config: SmtpConfig) -> None:
    if config.auth == SmtpAuth.NONE:
        return
    if config.auth == SmtpAuth.PASSWORD:
        await client.login(config.username, config.password or "")
        return
    from .errors import OAuthError, ReauthorizationNeeded

    try:
        token = await _oauth_token(config)
    except OAuthError as exc:
        # Re-authorization and configuration need an admin; the rest (provider unreachable)
        # may pass.
        temporary = not isinstance(exc, ReauthorizationNeeded) and exc.code == ErrorCode.OAUTH_ERROR
        raise SmtpError(SmtpErrorCode.OAUTH_TOKEN,
                        f"Could not get an access token: {exc}", temporary=temporary) from exc
    user = (config.sender_address if config.auth == SmtpAuth.MICROSOFT_APP_ONLY
            else config.username or config.sender_address)
    try:
        await client.auth_xoauth2(user, token)
    except aiosmtplib.SMTPAuthenticationError as exc:
        if config.auth != SmtpAuth.MICROSOFT_APP_ONLY:
            raise
        from .providers.microsoft_app_only import mailbox_refused

        raise SmtpError(SmtpErrorCode.AUTH_FAILED, mailbox_refused(user, str(exc)).message,
                        temporary=False) from exc


async def _connect(config: SmtpConfig) -> aiosmtplib.SMTP:
    ctx = _tls_context(config)
    use_tls = config.security == Encryption.SSL
    client = aiosmtplib.SMTP(
        hostname=config.host, port=config.port, use_tls=use_tls, start_tls=False,
        tls_context=ctx if use_tls else None, timeout=config.timeout)
    try:
        await client.connect()
        if config.security == Encryption.STARTTLS:
            await client.starttls(tls_context=ctx)
            await client.ehlo()  # RECIPE gotcha 6: AUTH after STARTTLS needs a fresh EHLO
        await _authenticate(client, config)
    except BaseException:
        await close_client(client)
        raise
    return client


async def send_message(config: SmtpConfig, message: EmailMessage,
                       recipients: list[str] | None = None, *,
                       connections: SmtpConnections | None = None) -> SendResult:
    """Send `message` from `config.sender_address`: on a connection from `connections` (kept
    open for the next send), or on a new one, closed afterwards.

    Raises `SmtpError` (with `.temporary`) when nothing was accepted. When some recipients
    are refused and others accepted, the send counts as done and `refused` says who.
    """
    pool = connections if connections is not None else SmtpConnections(max_idle=0)
    try:
        conn = await pool.acquire(config, lambda: _connect(config))
        ok = False
        try:
            refused, response = await conn.client.send_message(
                message, sender=config.sender_address or None, recipients=recipients)
            ok = True
        finally:
            await pool.release(config, conn, ok=ok)
    except Exception as exc:
        error = classify_smtp_error(exc)
        logger.info("SMTP send to %s:%s failed: %s", config.host, config.port, error.code.value)
        raise error from exc
    return SendResult(response=response,
                      refused={k: f"{v.code} {v.message}" for k, v in refused.items()})


async def test_smtp_connection(config: SmtpConfig) -> None:
    """Connect and authenticate, then quit; raises `SmtpError` with a human message."""
    try:
        client = await _connect(config)
        await quit_client(client)
    except Exception as exc:
        raise classify_smtp_error(exc) from exc


test_smtp_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
