"""Find the sender among contacts (case-insensitive address); create the contact if missing."""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError

from ...models import Account, Contact, normalize_email
from ..context import ActionOutcome, MessageContext
from .errors import check_keys

TYPE = "create_contact"
CONTACT_CACHE_SIZE = 20_000
LABEL = "Create contact if not exists"


def validate(config: dict[str, Any]) -> dict[str, Any]:
    check_keys(config, set())
    return {}


async def ensure_contact(ctx: MessageContext) -> tuple[Contact | None, bool]:
    """The sender's contact (cached on ctx), created when missing; (contact, created)."""
    if ctx.contact is not None:
        return ctx.contact, False
    sender = ctx.email.from_
    if sender is None or "@" not in sender.address:
        return None, False
    normalized = normalize_email(sender.address)
    cache = ctx.config.cache
    contact = cache.contacts.get(normalized) if cache is not None else None
    if contact is None:
        contact = await Contact.filter(email_normalized=normalized).using_db(ctx.conn).first()
    created = False
    if contact is None:
        name = (sender.name or "").strip() or sender.address.partition("@")[0]
        contact = Contact(
            name=name[:200],
            email=sender.address.strip()[:320],
            account_id=await _account_id(ctx, normalized.rpartition("@")[2]),
        )
        contact, created = await _insert_or_get(ctx, contact, normalized)
        if created:
            ctx.counts["contacts_created"] += 1
    if cache is not None:
        if len(cache.contacts) >= CONTACT_CACHE_SIZE:
            cache.contacts.clear()
        cache.contacts[normalized] = contact
    ctx.contact = contact
    return contact, created


async def _insert_or_get(ctx: MessageContext, contact: Contact,
                         normalized: str) -> tuple[Contact, bool]:
    """Insert in a savepoint: another scan may have added the same sender since our lookup
    (PostgreSQL then refuses the duplicate); in that case use its row instead of failing."""
    try:
        async with ctx.conn._in_transaction():  # a savepoint inside the message's transaction
            await contact.save(using_db=ctx.conn)
        return contact, True
    except IntegrityError:
        existing = await Contact.filter(email_normalized=normalized).using_db(ctx.conn).first()
        if existing is None:
            raise
        return existing, False


async def _account_id(ctx: MessageContext, domain: str) -> int | None:
    """The Account whose domain is the sender's (case-insensitive), if any."""
    cache = ctx.config.cache
    if cache is None:
        account = await Account.filter(domain__iexact=domain).using_db(ctx.conn).first()
        return account.id if account else None
    if cache.accounts is None:
        rows = (
            await Account.filter(domain__isnull=False)
            .using_db(ctx.conn)
            .values_list("domain", "id")
        )
        cache.accounts = {str(d).casefold(): int(i) for d, i in rows}
    return cache.accounts.get(domain.casefold())


async def run(ctx: MessageContext, config: dict[str, Any]) -> ActionOutcome:
    if ctx.automated:
        return ActionOutcome("skipped", ctx.automated)
    contact, created = await ensure_contact(ctx)
    if contact is None:
        return ActionOutcome("skipped", "the mail has no sender address")
    return ActionOutcome("done", f"{'created' if created else 'found'} contact {contact.id}")
