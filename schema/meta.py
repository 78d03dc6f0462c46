"""Model metadata for frontends (like Odoo's fields_get): labels, types, choices."""
from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class ModelName(Enum):
    TICKET = "ticket"
    CONTACT = "contact"
    ACCOUNT = "account"
    SCANNER = "scanner"
    COMMENT = "comment"
    RULE = "rule"
    USER = "user"


@strawberry.type
class Choice:
    value: str
    label: str


@strawberry.type(name="FieldInfo")
class FieldInfoType:
    name: str
    label: str
    help: str
    type: str
    required: bool
    choices: list[Choice]
