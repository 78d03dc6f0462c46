"""One table that turns SMTP, TLS and socket failures into a code, a human message and
"temporary or not", for the send job (retry or give up) and for testSmtpSettings (tell the
admin what to fix). Like Odoo's fetchmail `button_confirm_login`, the admin sees a sentence,
not a traceback.
"""
from __future__ import annotations

import enum
import socket
import ssl
from collections.abc import Callable

import aiosmtplib


class SmtpErrorCode(str, enum.Enum):
    NOT_CONFIGURED = "not_configured"
    HOST_NOT_FOUND = "host_not_found"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_FAILED = "connection_failed"
    TIMEOUT = "timeout"
    DISCONNECTED = "disconnected"
    CERTIFICATE_UNTRUSTED = "certificate_untrusted"
    TLS_FAILED = "tls_failed"
    STARTTLS_UNSUPPORTED = "starttls_unsupported"
    AUTH_UNSUPPORTED = "auth_unsupported"
    AUTH_FAILED = "auth_failed"
    OAUTH_TOKEN = "oauth_token"
    SENDER_REFUSED = "sender_refused"
    RECIPIENT_REFUSED = "recipient_refused"
    MESSAGE_REFUSED = "message_refused"
    SERVER_ERROR = "server_error"
    UNKNOWN = "unknown"


class SmtpError(Exception):
    """A classified SMTP failure: `code`, a one-sentence `message`, and `temporary`."""

    def __init__(self, code: SmtpErrorCode, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.temporary = temporary

    def __repr__(self) -> str:
        return f"SmtpError({self.code.value}, {self.message!r}, temporary={self.temporary})"


def _reply(exc: BaseException) -> str:
    """The server's own words, e.g. '550 5.1.1 No such user here'."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}".strip()
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
    return str(exc)


def _is_temporary_reply(exc: BaseException) -> bool:
    # RFC 5321: 4yz = transient, 5yz = permanent. Several refused recipients are temporary
    # only if every refusal was.
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(400 <= r.code < 500 for r in exc.recipients)
    code = getattr(exc, "code", 0)
    return isinstance(code, int) and 400 <= code < 500


Matcher = Callable[[BaseException], bool]
_Rule = tuple[Matcher, SmtpErrorCode, "bool | None", str]


def _is(*types: type[BaseException]) -> Matcher:
    return lambda exc: isinstance(exc, types)


def _says(text: str) -> Matcher:
    return lambda exc: type(exc) is aiosmtplib.SMTPException and text in str(exc).lower()


# Checked innermost cause first (aiosmtplib wraps OSError in SMTPConnectError), then in order.
# `None` as temporary means "decide from the reply code (4xx temporary, 5xx permanent)".
_TABLE: list[_Rule] = [
    (_is(ssl.SSLCertVerificationError), SmtpErrorCode.CERTIFICATE_UNTRUSTED, False,
     ("The server's certificate is not trusted ({detail}). Install a valid certificate on the "
      "server, or turn off certificate validation only for testing.")),
    (_is(ssl.SSLError), SmtpErrorCode.TLS_FAILED, False,
     ("The TLS handshake failed ({detail}). Check that the security setting matches the port: "
      "465 uses SSL/TLS on connect, 587 uses STARTTLS.")),
    (_is(socket.gaierror), SmtpErrorCode.HOST_NOT_FOUND, True,
     "The SMTP server name could not be resolved; check the host name."),
    (_is(ConnectionRefusedError), SmtpErrorCode.CONNECTION_REFUSED, True,
     ("The SMTP server refused the connection; check the host and port, and that the server "
      "is running.")),
    (_is(aiosmtplib.SMTPTimeoutError, TimeoutError), SmtpErrorCode.TIMEOUT, True,
     "The SMTP server did not answer in time."),
    (_is(aiosmtplib.SMTPAuthenticationError), SmtpErrorCode.AUTH_FAILED, None,
     ("The SMTP server rejected the login (server said: {reply}). Check the username and "
      "password, or the authorized account.")),
    (_is(aiosmtplib.SMTPSenderRefused), SmtpErrorCode.SENDER_REFUSED, None,
     ("The SMTP server refused the sender address (server said: {reply}). The account may "
      "not be allowed to send as this address.")),
    (_is(aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPRecipientsRefused),
     SmtpErrorCode.RECIPIENT_REFUSED, None,
     "The SMTP server refused the recipient (server said: {reply})."),
    (_is(aiosmtplib.SMTPDataError), SmtpErrorCode.MESSAGE_REFUSED, None,
     "The SMTP server refused the message (server said: {reply})."),
    (_is(aiosmtplib.SMTPResponseException), SmtpErrorCode.SERVER_ERROR, None,
     "The SMTP server answered with an error (server said: {reply})."),
    (_says("starttls extension not supported"), SmtpErrorCode.STARTTLS_UNSUPPORTED, False,
     "The server does not offer STARTTLS; choose SSL/TLS (port 465) or no encryption."),
    (_says("auth extension is not supported"), SmtpErrorCode.AUTH_UNSUPPORTED, False,
     ("The server does not offer authentication here; use STARTTLS or SSL/TLS, or choose "
      "no authentication.")),
    (_says("no suitable authentication method"), SmtpErrorCode.AUTH_UNSUPPORTED, False,
     "The server offers no login method this application supports."),
    (_is(aiosmtplib.SMTPServerDisconnected), SmtpErrorCode.DISCONNECTED, True,
     "The SMTP server closed the connection unexpectedly."),
    (_is(OSError), SmtpErrorCode.CONNECTION_FAILED, True,
     "Could not connect to the SMTP server ({detail})."),
]


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__
    return seen[::-1]  # innermost first


def classify_smtp_error(exc: BaseException) -> SmtpError:
    """Map any exception raised while talking SMTP to a `SmtpError`.

    >>> classify_smtp_error(ConnectionRefusedError(111, "refused")).code.value
    'connection_refused'
    """
    if isinstance(exc, SmtpError):
        return exc
    for cause in _chain(exc):
        for matches, code, temporary, template in _TABLE:
            if matches(cause):
                detail = getattr(cause, "verify_message", None) or getattr(
                    cause, "reason", None) or getattr(cause, "strerror", None) or str(cause)
                message = template.format(detail=detail, reply=_reply(cause))
                if temporary is None:
                    temporary = _is_temporary_reply(cause)
                return SmtpError(code, message, temporary=temporary)
    # Unknown failures are retried: giving up on a customer's mail needs a clear reason.
    return SmtpError(SmtpErrorCode.UNKNOWN, f"Sending failed: {type(exc).__name__}: {exc}",
                     temporary=True)
