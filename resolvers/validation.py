"""Field checks that name the input path of the offending field (e.g. `input.host`)."""
from __future__ import annotations

import ipaddress
import re

from email_validator import EmailNotValidError, validate_email

from ..schema.errors import ErrorCode, InputErrors

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_required(errors: InputErrors, field: str, value: object) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.add(field, ErrorCode.REQUIRED, "This field is required")


def check_length(errors: InputErrors, field: str, value: str | None, maximum: int) -> None:
    if value is not None and len(value) > maximum:
        errors.add(field, ErrorCode.TOO_LONG, f"At most {maximum} characters")


def check_host(errors: InputErrors, field: str, host: str | None) -> None:
    """A DNS name or an IP literal; no scheme, port, path or spaces."""
    if not host or not host.strip():  # missing is reported by check_required
        return
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253 or not all(_HOST_LABEL.match(p) for p in name.split(".")):
        errors.add(
            field,
            ErrorCode.INVALID_HOST,
            f"{host!r} is not a host name (expected e.g. imap.example.com, without scheme or port)",
        )


def check_port(errors: InputErrors, field: str, port: int | None) -> None:
    if port is not None and not 1 <= port <= 65535:
        errors.add(field, ErrorCode.INVALID_PORT, "Port must be between 1 and 65535")


def normalize_email_address(
    errors: InputErrors, field: str, value: str | None, *, internal_ok: bool = False
) -> str | None:
    """The address in normalized form, or None after recording why it is not valid.

    `internal_ok`: also accept reserved and internal domains (`.test`, `.internal`, a bare
    host name), as an organisation's own mailboxes may use them (a customer's should not)."""
    if value is None:
        return None
    try:
        return validate_email(
            value.strip(),
            check_deliverability=False,
            globally_deliverable=not internal_ok,
            test_environment=internal_ok,
        ).normalized
    except EmailNotValidError as exc:
        errors.add(field, ErrorCode.INVALID_EMAIL, str(exc))
        return None


def check_positive(errors: InputErrors, field: str, value: int | None, maximum: int) -> None:
    if value is not None and not 1 <= value <= maximum:
        errors.add(field, ErrorCode.INVALID, f"Must be between 1 and {maximum}")
