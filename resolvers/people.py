"""Contacts (customers), accounts (their organizations) and users (agents)."""
from __future__ import annotations

import strawberry
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from .. import models
from ..models.contact import normalize_email
from ..schema.errors import ErrorCode, InputErrors
from ..schema.pagination import Connection
from ..schema.people import (
    AccountInput,
    AccountPayload,
    AccountResult,
    AccountType,
    ContactInput,
    ContactPayload,
    ContactResult,
    ContactType,
    UserType,
)
from ..schema.scanner import DeletePayload, DeleteResult
from .common import get_or_none, not_found, paginate, parse_id
from .context import Info
from .permissions import IsAgent
from .validation import check_host, check_length, check_required, normalize_email_address


async def _validate_contact(data: ContactInput, current: models.Contact | None) -> InputErrors:
    errors = InputErrors()
    if current is None or data.name is not None:
        check_required(errors, "input.name", data.name)
    if current is None or data.email is not None:
        check_required(errors, "input.email", data.email)
    check_length(errors, "input.name", data.name, 200)
    check_length(errors, "input.phone", data.phone, 50)
    if data.email:
        data.email = normalize_email_address(errors, "input.email", data.email)
    if data.email:
        clash = models.Contact.filter(email_normalized=normalize_email(data.email))
        if current is not None:
            clash = clash.exclude(id=current.id)
        if await clash.exists():
            errors.add("input.email", ErrorCode.UNIQUE, "A contact with this email already exists")
    if data.account_id is not None:
        account_id = parse_id(data.account_id, "input.accountId", errors)
        if account_id and not await models.Account.exists(id=account_id):
            errors.add(
                "input.accountId", ErrorCode.NOT_FOUND, f"Account {account_id} does not exist"
            )
    return errors


async def _validate_account(data: AccountInput, current: models.Account | None) -> InputErrors:
    errors = InputErrors()
    if current is None or data.name is not None:
        check_required(errors, "input.name", data.name)
    check_length(errors, "input.name", data.name, 200)
    if data.domain:
        data.domain = data.domain.strip().lower().lstrip("@")
        check_host(errors, "input.domain", data.domain)
        clash = models.Account.filter(domain=data.domain)
        if current is not None:
            clash = clash.exclude(id=current.id)
        if await clash.exists():
            errors.add("input.domain", ErrorCode.UNIQUE, "Another account has this domain")
    return errors


def _unique_violation(field: str) -> InputErrors:
    errors = InputErrors()
    errors.add(field, ErrorCode.UNIQUE, "Already in use")
    return errors


@strawberry.type
class PeopleQueries:
    @strawberry.field(permission_classes=[IsAgent])
    async def contacts(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        search: str | None = None,
        email: str | None = None,
    ) -> Connection[ContactType]:
        qs = models.Contact.all().order_by("name", "id")
        if email:
            qs = qs.filter(email_normalized=normalize_email(email))
        if search:
            qs = qs.filter(Q(name__icontains=search) | Q(email__icontains=search))
        return await paginate(qs, first, after, ContactType.from_model)

    @strawberry.field(
        permission_classes=[IsAgent], description="A contact by id or by email address"
    )
    async def contact(
        self, info: Info, id: strawberry.ID | None = None, email: str | None = None
    ) -> ContactType | None:
        if id is not None:
            row = await get_or_none(models.Contact, id)
        elif email:
            row = await models.Contact.filter(email_normalized=normalize_email(email)).first()
        else:
            return None
        return ContactType.from_model(row) if row else None

    @strawberry.field(permission_classes=[IsAgent])
    async def accounts(self, info: Info, first: int | None = 50, after: str | None = None,
                       search: str | None = None) -> Connection[AccountType]:
        qs = models.Account.all().order_by("name", "id")
        if search:
            qs = qs.filter(Q(name__icontains=search) | Q(domain__icontains=search))
        return await paginate(qs, first, after, AccountType.from_model)

    @strawberry.field(permission_classes=[IsAgent])
    async def account(self, info: Info, id: strawberry.ID) -> AccountType | None:
        row = await get_or_none(models.Account, id)
        return AccountType.from_model(row) if row else None

    @strawberry.field(
        permission_classes=[IsAgent], description="Agents and admins (e.g. to pick an assignee)"
    )
    async def users(self, info: Info) -> list[UserType]:
        return [
            UserType.from_model(u) for u in await models.User.filter(active=True).order_by("name")
        ]

    @strawberry.field(permission_classes=[IsAgent], description="The user the token belongs to")
    async def me(self, info: Info) -> UserType:
        assert info.context.principal is not None
        return UserType.from_model(info.context.principal.user)


@strawberry.type
class PeopleMutations:
    @strawberry.mutation(permission_classes=[IsAgent])
    async def create_contact(self, info: Info, input: ContactInput) -> ContactResult:
        errors = await _validate_contact(input, None)
        if errors.errors:
            return errors.as_result()
        account_id = parse_id(input.account_id, "input.accountId")
        if account_id is None and input.email:
            domain = input.email.rpartition("@")[2].lower()
            account = await models.Account.filter(domain=domain).first()
            account_id = account.id if account else None
        try:
            row = await models.Contact.create(name=input.name, email=input.email, phone=input.phone,
                                              account_id=account_id)
        except IntegrityError:
            return _unique_violation("input.email").as_result()
        return ContactPayload(contact=ContactType.from_model(row))

    @strawberry.mutation(permission_classes=[IsAgent])
    async def update_contact(
        self, info: Info, id: strawberry.ID, input: ContactInput
    ) -> ContactResult:
        row = await get_or_none(models.Contact, id)
        if row is None:
            return not_found("Contact", id)
        errors = await _validate_contact(input, row)
        if errors.errors:
            return errors.as_result()
        for attr in ("name", "email", "phone"):
            if getattr(input, attr) is not None:
                setattr(row, attr, getattr(input, attr))
        if input.account_id is not None:
            row.account_id = parse_id(input.account_id, "input.accountId")
        try:
            await row.save()
        except IntegrityError:
            return _unique_violation("input.email").as_result()
        return ContactPayload(contact=ContactType.from_model(row))

    @strawberry.mutation(permission_classes=[IsAgent])
    async def delete_contact(self, info: Info, id: strawberry.ID) -> DeleteResult:
        row = await get_or_none(models.Contact, id)
        if row is None:
            return not_found("Contact", id)
        await row.delete()
        return DeletePayload(id=id)

    @strawberry.mutation(permission_classes=[IsAgent])
    async def create_account(self, info: Info, input: AccountInput) -> AccountResult:
        errors = await _validate_account(input, None)
        if errors.errors:
            return errors.as_result()
        try:
            row = await models.Account.create(name=input.name, domain=input.domain or None)
        except IntegrityError:
            return _unique_violation("input.domain").as_result()
        return AccountPayload(account=AccountType.from_model(row))

    @strawberry.mutation(permission_classes=[IsAgent])
    async def update_account(
        self, info: Info, id: strawberry.ID, input: AccountInput
    ) -> AccountResult:
        row = await get_or_none(models.Account, id)
        if row is None:
            return not_found("Account", id)
        errors = await _validate_account(input, row)
        if errors.errors:
            return errors.as_result()
        if input.name is not None:
            row.name = input.name
        if input.domain is not None:
            row.domain = input.domain or None
        try:
            await row.save()
        except IntegrityError:
            return _unique_violation("input.domain").as_result()
        return AccountPayload(account=AccountType.from_model(row))

    @strawberry.mutation(permission_classes=[IsAgent])
    async def delete_account(self, info: Info, id: strawberry.ID) -> DeleteResult:
        row = await get_or_none(models.Account, id)
        if row is None:
            return not_found("Account", id)
        await row.delete()
        return DeletePayload(id=id)
