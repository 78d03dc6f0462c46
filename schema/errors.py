"""Expected failures are data: every mutation returns a union of its payload and these types."""
from __future__ import annotations

from enum import Enum

import strawberry


class PublicError(Exception):
    """An error whose message is safe to show (bad cursor, bad id in a query); others are masked."""


@strawberry.enum(description="Machine-readable reason for a failed mutation")
class ErrorCode(Enum):
    REQUIRED = "required"
    INVALID = "invalid"
    INVALID_HOST = "invalid_host"
    INVALID_PORT = "invalid_port"
    INVALID_EMAIL = "invalid_email"
    INVALID_ID = "invalid_id"
    TOO_LONG = "too_long"
    TOO_MANY = "too_many"
    TOO_LARGE = "too_large"
    INVALID_CHARACTERS = "invalid_characters"
    UNIQUE = "unique"
    NOT_FOUND = "not_found"
    IN_USE = "in_use"
    INVALID_RULE = "invalid_rule"
    INVALID_ACTION = "invalid_action"
    INVALID_FOLDER = "invalid_folder"
    INVALID_TEMPLATE = "invalid_template"
    TEMPLATE_LIMIT = "template_limit"
    TIMEOUT = "timeout"
    CONNECTION_FAILED = "connection_failed"
    CONFLICT = "conflict"
    START_LOCKED = "start_locked"


@strawberry.type(description="One problem with one input field")
class FieldError:
    field: str = strawberry.field(description="Path of the input field, e.g. input.host")
    code: ErrorCode
    message: str
    line: int | None = strawberry.field(default=None, description="Rule text: line of the mistake")
    column: int | None = strawberry.field(
        default=None, description="Rule text: column of the mistake"
    )
    caret: str | None = strawberry.field(
        default=None, description="Rule text with a caret under the mistake"
    )


@strawberry.type(description="The input was rejected; nothing was saved")
class ValidationError:
    message: str
    errors: list[FieldError]


@strawberry.type(description="No object with that id exists (or it is not visible to you)")
class NotFoundError:
    message: str
    id: strawberry.ID


@strawberry.type(description="The object is used elsewhere and cannot be removed")
class InUseError:
    message: str
    used_by: list[str]


MAX_FIELD_ERRORS = 20  # per ValidationError: a 300k-item list must not make 300k errors


class InputErrors(Exception):
    """Raised inside resolvers to return a ValidationError; collects every problem at once
    (up to MAX_FIELD_ERRORS)."""

    def __init__(self, errors: list[FieldError] | None = None) -> None:
        super().__init__("invalid input")
        self.errors: list[FieldError] = errors or []

    def add(self, field: str, code: ErrorCode, message: str, **extra: object) -> None:
        if len(self.errors) >= MAX_FIELD_ERRORS:
            return
        self.errors.append(FieldError(field=field, code=code, message=message, **extra))  # type: ignore[arg-type]

    def raise_if_any(self) -> None:
        if self.errors:
            raise self

    def as_result(self) -> ValidationError:
        fields = ", ".join(e.field for e in self.errors)
        return ValidationError(message=f"Invalid input: {fields}", errors=self.errors)
