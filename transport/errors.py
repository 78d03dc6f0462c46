"""Mail errors a person can act on, and the ONE table that turns low-level failures into them.

Socket, SSL and IMAP libraries fail with exceptions written for programmers
(`[Errno -2] Name or service not known`, `CERTIFICATE_VERIFY_FAILED`, `b'[ALERT] ...'`).
`classify_error()` maps each one, once, to a `MailError` with a stable `code` (for the API
and the UI) and a `message` an admin understands, like Odoo's `button_confirm_login`.
"""

from __future__ import annotations

import enum
import imaplib
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from imapclient import exceptions as imap_exc

__all__ = [
    "ErrorCode",
    "ImapAuthError",
    "ImapConnectionError",
    "ImapProtocolError",
    "MailError",
    "OAuthError",
    "ReauthorizationNeeded",
    "classify_error",
    "count_connection_error",
]


class ErrorCode(str, enum.Enum):
    HOST_NOT_FOUND = "HOST_NOT_FOUND"
    CONNECTION_REFUSED = "CONNECTION_REFUSED"
    TIMEOUT = "TIMEOUT"
    NETWORK_ERROR = "NETWORK_ERROR"
    TLS_CERTIFICATE_UNTRUSTED = "TLS_CERTIFICATE_UNTRUSTED"
    TLS_ERROR = "TLS_ERROR"
    STARTTLS_UNSUPPORTED = "STARTTLS_UNSUPPORTED"
    LOGIN_REJECTED = "LOGIN_REJECTED"
    IMAP_DISABLED = "IMAP_DISABLED"
    OAUTH_REAUTH_REQUIRED = "OAUTH_REAUTH_REQUIRED"
    OAUTH_ERROR = "OAUTH_ERROR"
    OAUTH_PERMISSION_MISSING = "OAUTH_PERMISSION_MISSING"
    OAUTH_MAILBOX_ACCESS = "OAUTH_MAILBOX_ACCESS"
    FOLDER_NOT_FOUND = "FOLDER_NOT_FOUND"
    PROTOCOL_ERROR = "PROTOCOL_ERROR"
    CONFIGURATION = "CONFIGURATION"


class MailError(Exception):
    """A mail failure with a stable `code` and a `message` written for an admin."""

    code: ErrorCode = ErrorCode.PROTOCOL_ERROR

    def __init__(self, message: str, *, code: ErrorCode | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail  # the low-level text, for logs (never shown instead of message)

    def __str__(self) -> str:
        return self.message


class ImapConnectionError(MailError):
    """Could not reach or talk securely to the server (transient or configuration)."""

    code = ErrorCode.NETWORK_ERROR


class ImapAuthError(MailError):
    """The server refused the login; retrying will not help until someone fixes it."""

    code = ErrorCode.LOGIN_REJECTED


class ImapProtocolError(MailError):
    """The server answered a command with NO/BAD, or something unexpected."""

    code = ErrorCode.PROTOCOL_ERROR


class OAuthError(MailError):
    """Getting an OAuth access token failed (raised by transport.providers)."""

    code = ErrorCode.OAUTH_ERROR


class ReauthorizationNeeded(OAuthError):
    """The stored authorization no longer works; an admin must authorize again."""

    code = ErrorCode.OAUTH_REAUTH_REQUIRED

    def __init__(
        self, reason: str, message: str | None = None, *, provider: str = "Microsoft"
    ) -> None:
        super().__init__(
            message
            # Starts like the health text tokens.mark_reauthorization_needed writes, so a new
            # authorization clears it from the scanners whichever of the two they show.
            or f"Re-authorization needed: the {provider} authorization must be renewed "
            f"({reason}). Open the scanner and make a new authorization.",
            detail=reason,
        )
        self.reason = reason


# Server texts that mean "this mailbox may not use IMAP" rather than "wrong password".
_IMAP_DISABLED = re.compile(
    r"IMAP access is disabled|not enabled for IMAP|enable (?:your account for )?IMAP"
    r"|Application-specific password required|Web login required|log in via your web browser"
    r"|User is authenticated but not connected|IMAP (?:is )?disabled",
    re.I,
)


@dataclass(frozen=True)
class _Row:
    match: Callable[[BaseException], bool]
    kind: type[MailError]
    code: ErrorCode
    message: str  # formatted with host, port, reason


def _is(*types: type[BaseException]) -> Callable[[BaseException], bool]:
    return lambda exc: isinstance(exc, types)


def _login_text(pattern: re.Pattern[str]) -> Callable[[BaseException], bool]:
    return lambda exc: (
        isinstance(exc, (imap_exc.LoginError, imaplib.IMAP4.error))
        and bool(pattern.search(_text(exc)))
    )


def _wrong_tls_port(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLError) and (getattr(exc, "reason", None) or "") in {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "RECORD_LAYER_FAILURE",
    }


# Order matters: the first matching row wins (subclasses before their bases).
_TABLE: tuple[_Row, ...] = (
    _Row(
        _is(socket.gaierror),
        ImapConnectionError,
        ErrorCode.HOST_NOT_FOUND,
        "The server {host} could not be found. Check the host name.",
    ),
    _Row(
        _is(ConnectionRefusedError),
        ImapConnectionError,
        ErrorCode.CONNECTION_REFUSED,
        "The server {host} refused the connection on port {port}. "
        "Check the port and the encryption.",
    ),
    _Row(
        _is(TimeoutError, socket.timeout),
        ImapConnectionError,
        ErrorCode.TIMEOUT,
        "The server {host} did not answer in time on port {port}. "
        "Check the host, the port and any firewall.",
    ),
    _Row(
        _is(ssl.SSLCertVerificationError),
        ImapConnectionError,
        ErrorCode.TLS_CERTIFICATE_UNTRUSTED,
        "The certificate of {host} is not trusted: {reason}. Install a trusted certificate on "
        "the server, or turn certificate validation off for this scanner.",
    ),
    _Row(
        _wrong_tls_port,
        ImapConnectionError,
        ErrorCode.TLS_ERROR,
        "The server {host} did not speak TLS on port {port} ({reason}). "
        "Check the encryption setting: the port may expect STARTTLS or no encryption.",
    ),
    _Row(
        _is(ssl.SSLError),
        ImapConnectionError,
        ErrorCode.TLS_ERROR,
        "The secure connection to {host} failed: {reason}.",
    ),
    _Row(
        _login_text(_IMAP_DISABLED),
        ImapAuthError,
        ErrorCode.IMAP_DISABLED,
        "The server does not allow IMAP for this mailbox: {reason}. Enable IMAP access "
        "(or app passwords) in the mailbox settings.",
    ),
    _Row(
        _is(imap_exc.LoginError),
        ImapAuthError,
        ErrorCode.LOGIN_REJECTED,
        "The server {host} rejected the login: {reason}. Check the username and password.",
    ),
    _Row(
        _is(imaplib.IMAP4.abort, ConnectionError, EOFError),
        ImapConnectionError,
        ErrorCode.NETWORK_ERROR,
        "The connection to {host} was lost: {reason}.",
    ),
    _Row(
        _is(OSError),
        ImapConnectionError,
        ErrorCode.NETWORK_ERROR,
        "Could not connect to {host} on port {port}: {reason}.",
    ),
    _Row(
        _is(imap_exc.IMAPClientError, imaplib.IMAP4.error),
        ImapProtocolError,
        ErrorCode.PROTOCOL_ERROR,
        "The server {host} answered with an error: {reason}",
    ),
)


def _text(exc: BaseException) -> str:
    """The most readable text of an exception: decode bytes payloads, drop b'...' quoting."""
    if isinstance(exc, ssl.SSLCertVerificationError) and getattr(exc, "verify_message", None):
        return str(exc.verify_message)
    if isinstance(exc, ssl.SSLError) and getattr(exc, "reason", None):
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return str(exc.strerror)
    parts = []
    for arg in exc.args or (str(exc),):
        if isinstance(arg, bytes):
            arg = arg.decode("utf-8", "replace")
        parts.append(str(arg))
    text = " ".join(parts).strip()
    match = re.fullmatch(r"b(['\"])(.*)\1", text, re.S)
    return (match.group(2) if match else text) or type(exc).__name__


def classify_error(
    exc: BaseException, *, host: str = "the server", port: int | str = "?"
) -> MailError:
    """Turn any exception raised while talking to a mail server into a `MailError`.

    >>> classify_error(ConnectionRefusedError(111, "Connection refused"), host="mx", port=993).code
    <ErrorCode.CONNECTION_REFUSED: 'CONNECTION_REFUSED'>
    """
    if isinstance(exc, MailError):
        return exc
    reason = _text(exc).rstrip(".")
    for row in _TABLE:
        if row.match(exc):
            return row.kind(
                row.message.format(host=host, port=port, reason=reason),
                code=row.code,
                detail=f"{type(exc).__name__}: {exc}",
            )
    return ImapProtocolError(
        f"Unexpected error talking to {host}: {reason}", detail=f"{type(exc).__name__}: {exc}"
    )


def count_connection_error(error: MailError) -> None:
    """A failed IMAP connection or login in the metrics, by code (ops/metrics.py)."""
    from ..ops.metrics import IMAP_ERRORS

    IMAP_ERRORS.labels(error.code.value).inc()
