"""Find the sender among contacts (case-insensitive address); create the contact if missing."""
from __future__ import annotations

from typing import Any

from ...models import Account, Contact, normalize_email
from ..context import ActionOutcome, MessageContext
from .errors import check_keys

TYPE = "create_contact"
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
    contact = await Contact.filter(email_normalized=normalized).using_db(ctx.conn).first()
    created = False
    if contact is None:
        domain = normalized.rpartition("@")[2]
        account = await Account.filter(domain__iexact=domain).using_db(ctx.conn).first()
        name = (sender.name or "").strip() or sender.address.partition("@")[0]
        contact = Contact(name=name[:200], email=sender.address.strip()[:320], account=account)
        await contact.save(using_db=ctx.conn)
        ctx.counts["contacts_created"] += 1
        created = True
    ctx.contact = contact
    return contact, created


async def run(ctx: MessageContext, config: dict[str, Any]) -> ActionOutcome:
    if ctx.automated:
        return ActionOutcome("skipped", ctx.automated)
    contact, created = await ensure_contact(ctx)
    if contact is None:
        return ActionOutcome("skipped", "the mail has no sender address")
    return ActionOutcome("done", f"{'created' if created else 'found'} contact {contact.id}")
