"""Users (agents/admins), contacts (customers) and accounts (their organizations)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from .. import models
from .enums import RoleEnum
from .errors import NotFoundError, ValidationError


@strawberry.type(name="User", description="A CRM agent or admin")
class UserType:
    id: strawberry.ID
    name: str
    email: str | None
    role: RoleEnum  # type: ignore[valid-type]
    active: bool

    @classmethod
    def from_model(cls, m: models.User) -> UserType:
        return cls(
            id=strawberry.ID(str(m.id)), name=m.name, email=m.email, role=m.role, active=m.active
        )


@strawberry.type(
    name="Account", description="An organization; senders from its domain are linked to it"
)
class AccountType:
    id: strawberry.ID
    name: str
    domain: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, m: models.Account) -> AccountType:
        return cls(
            id=strawberry.ID(str(m.id)), name=m.name, domain=m.domain, created_at=m.created_at
        )


@strawberry.type(name="Contact", description="A customer")
class ContactType:
    id: strawberry.ID
    name: str
    email: str
    phone: str | None
    created_at: datetime
    account_id: strawberry.Private[int | None]

    @strawberry.field
    async def account(self, info: strawberry.Info[Any, Any]) -> AccountType | None:
        if self.account_id is None:
            return None
        row = await info.context.loaders.account_by_id.load(self.account_id)
        return AccountType.from_model(row) if row else None

    @classmethod
    def from_model(cls, m: models.Contact) -> ContactType:
        return cls(id=strawberry.ID(str(m.id)), name=m.name, email=m.email, phone=m.phone,
                   created_at=m.created_at, account_id=m.account_id)  # type: ignore[attr-defined]


@strawberry.input
class ContactInput:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    account_id: strawberry.ID | None = None


@strawberry.input
class AccountInput:
    name: str | None = None
    domain: str | None = None


@strawberry.type
class ContactPayload:
    contact: ContactType


@strawberry.type
class AccountPayload:
    account: AccountType


ContactResult = Annotated[
    ContactPayload | ValidationError | NotFoundError, strawberry.union("ContactResult")
]
AccountResult = Annotated[
    AccountPayload | ValidationError | NotFoundError, strawberry.union("AccountResult")
]
