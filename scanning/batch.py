"""The batch fast path: a whole fetch batch processed set-based in ONE transaction.

The per-message path (process.py + actions/) asks the database 9-12 questions per
ticket-creating mail. Here the batch's lookups are loaded up front (batch_lookup.py), each
message's actions are decided in memory, in UID order, against those lookups plus what the
earlier messages of the batch planned, and the rows are then written in bulk
(batch_write.py); ticket numbers for the batch come from one reservation of the counter.
The outcome is the one the per-message path would have produced message by message:
same contacts (one per new sender), same ticket/comment threading, same log rows.

Anything this planner does not model (bounces, broken rules, custom ticket regexes,
subject matching) runs through the per-message actions on the same transaction, after
the pending rows are written and before the lookups are reloaded.
If anything fails the caller rolls the batch back and redoes it one message at a time,
quarantining the bad message (pipeline.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from ..models import (
    Account,
    Contact,
    Ticket,
    normalize_email,
)
from ..models import Sequence as NumberSequence
from ..models.bulk import new_row
from ..outbound.threading import ticket_number_from_message_id
from .actions.create_or_update_ticket import (
    apply_fields,
    apply_update_fields,
    comment_text,
    created_detail,
    new_ticket,
    storable_attachments,
    updated_detail,
)
from .batch_lookup import PLANNED_KEY, Lookups, load_lookups, reference_ids
from .batch_prepare import FetchBatch
from .batch_write import TICKET_SEQUENCE, NewComment, Pending, write_pending
from .context import Effect, ScanConfig
from .process import LoadedRule, Prepared, Processed, act_prepared, acted_row
from .ticket_matching import number_pattern

__all__ = ["process_batch"]

Detail = str | Callable[[], str]
_PLANNED = {"create_contact", "create_or_update_ticket", "move_to_folder", "delete_message"}


def _plannable(p: Prepared) -> bool:
    if p.email.kind == "bounce":
        return False
    for rule in p.matched:
        if rule.error:
            return False
        for action in rule.actions:
            if action["type"] not in _PLANNED or action.get("regex") or action.get("match_subject"):
                return False
    return True


def _assignees(rules: list[LoadedRule]) -> set[int]:
    return {
        int(a[key]["assignee_id"])
        for r in rules
        for a in r.actions
        for key in ("set", "set_on_update")
        if isinstance(a.get(key), dict) and a[key].get("assignee_id") is not None
    }


@dataclass(eq=False)
class _Msg:
    """One message's planned outcome; ids are read after the rows are written."""

    uid: int
    prepared: Prepared
    contact: Contact | None = None
    ticket: Ticket | None = None
    comment: NewComment | None = None
    effects: list[Effect] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    records: list[tuple[dict[str, Any], Detail]] = field(default_factory=list)
    events: list[Callable[[], tuple[str, int, dict[str, Any]]]] = field(default_factory=list)

    def processed(self) -> Processed:
        """The log row and result, as process._act builds them."""
        p = self.prepared
        actions = [{**r, "detail": d() if callable(d) else d} for r, d in self.records]
        effects: list[Effect] = [{"op": "seen"}, *self.effects]
        acted_row(
            p.fields,
            self.counts,
            p.automated,
            p.matched,
            actions,
            effects,
            ticket_id=self.ticket.id if self.ticket else None,
            comment_id=self.comment.id if self.comment else None,
            contact_id=self.contact.id if self.contact else None,
        )
        events = [e() for e in self.events]
        return Processed(self.uid, None, False, effects, self.counts, events, fields=p.fields)


class _Planner:
    def __init__(self, config: ScanConfig, folder: str, conn: BaseDBAsyncClient) -> None:
        self.config, self.folder, self.conn = config, folder, conn
        self.lookups = Lookups()
        self.pending = Pending()
        self.accounts: dict[str, int] = {}
        self.serial = 0

    def _key(self) -> int:
        self.serial += 1
        return PLANNED_KEY + self.serial

    async def load(self, emails: list[Prepared], assignees: set[int]) -> None:
        cache = self.config.cache
        if cache is not None and cache.accounts is not None:
            self.accounts = cache.accounts
        else:
            rows = (
                await Account.filter(domain__isnull=False)
                .using_db(self.conn)
                .values_list("domain", "id")
            )
            self.accounts = {str(d).casefold(): int(i) for d, i in rows}
            if cache is not None:
                cache.accounts = self.accounts
        self.lookups = await load_lookups(
            [p.email for p in emails],
            prefix=self.config.ticket_prefix,
            domain=self.config.message_id_domain,
            assignees=assignees,
            conn=self.conn,
        )

    # -- create_contact ---------------------------------------------------------------
    def contact(self, msg: _Msg) -> tuple[Contact | None, bool]:
        if msg.contact is not None:
            return msg.contact, False
        sender = msg.prepared.email.from_
        if sender is None or "@" not in sender.address:
            return None, False
        normalized = normalize_email(sender.address)
        contact = self.lookups.contacts.get(normalized)
        created = False
        if contact is None:
            name = (sender.name or "").strip() or sender.address.partition("@")[0]
            email = sender.address.strip()[:320]
            account_id = self.accounts.get(normalized.rpartition("@")[2].casefold())
            contact = new_row(
                Contact,
                name=name[:200],
                email=email,
                account_id=account_id,
                email_normalized=normalize_email(email),  # Contact.save would set it
            )
            self.pending.contacts.append(contact)
            self.lookups.contacts[normalized] = contact
            msg.counts["contacts_created"] += 1
            created = True
        msg.contact = contact
        return contact, created

    def create_contact(self, msg: _Msg) -> tuple[str, Detail]:
        if msg.prepared.automated:
            return "skipped", msg.prepared.automated
        contact, created = self.contact(msg)
        if contact is None:
            return "skipped", "the mail has no sender address"
        verb = "created" if created else "found"
        return "done", lambda: f"{verb} contact {contact.id}"

    # -- create_or_update_ticket ------------------------------------------------------
    def _by_message_ids(self, ids: list[str]) -> Ticket | None:
        look = self.lookups
        for mid in ids:
            number = ticket_number_from_message_id(mid, self.config.message_id_domain)
            if number and (ticket := look.by_number.get(number)) is not None:
                return ticket
        both = [*ids, *(f"<{m}>" for m in ids)]
        if (sent := look.oldest_outbound(both)) is not None:
            return look.by_id.get(sent[1])
        return look.newest_by_source(both) or look.oldest_comment_ticket(both)

    def find_ticket(self, msg: _Msg) -> tuple[Ticket, str] | None:
        email = msg.prepared.email
        ids = reference_ids(email)
        if ids and (ticket := self._by_message_ids(ids)) is not None:
            return ticket, "message_id"
        prefix = self.config.ticket_prefix
        numbers = [f"{prefix}{n}" for n in number_pattern(prefix).findall(email.subject)]
        for number in dict.fromkeys(numbers):
            if (ticket := self.lookups.by_number.get(number)) is not None:
                return ticket, "subject_number"
        return None

    async def ticket_action(self, msg: _Msg, config: dict[str, Any]) -> tuple[str, Detail]:
        p = msg.prepared
        if p.automated:
            return "skipped", p.automated
        if (match := self.find_ticket(msg)) is not None:
            return self._update(msg, *match, config)
        mid = p.email.message_id
        if mid and (same := self.lookups.newest_by_source([mid])) is not None:
            msg.ticket = same
            return "duplicate", f"ticket {same.number} was created from this mail"
        return await self._create(msg, config)

    def _update(
        self, msg: _Msg, ticket: Ticket, how: str, config: dict[str, Any]
    ) -> tuple[str, Detail]:
        email = msg.prepared.email
        msg.ticket = ticket
        mid = email.message_id
        if mid and (ticket.source_message_id == mid or self.lookups.has_comment(ticket, mid)):
            return "duplicate", f"already on ticket {ticket.number}"
        contact, _ = self.contact(msg)
        body, quoted = msg.prepared.comment or comment_text(email)
        comment = NewComment(ticket, contact, body, mid, quoted)
        self.pending.comments.append(comment)
        if mid:
            self.lookups.comments.setdefault(mid, []).append((self._key(), ticket))
        msg.comment = comment
        self.pending.attachments.append((ticket, comment, email))
        changed = apply_update_fields(ticket, config, self.lookups.users)
        if ticket._saved_in_db:  # a ticket planned in this batch is inserted as it ends up
            was = self.pending.touched.get(ticket.id, (ticket, False))[1]
            self.pending.touched[ticket.id] = (ticket, was or bool(changed))
        msg.counts["comments_added"] += 1
        msg.counts["tickets_updated"] += 1
        msg.events.append(lambda: ("comment_added", ticket.id, {"comment_id": comment.id}))
        if changed:
            msg.events.append(lambda: ("ticket_updated", ticket.id, {"fields": changed}))
        return "done", lambda: updated_detail(comment.id, ticket.number, how, changed)

    async def _number(self) -> str:
        pending = self.pending
        if pending.last_number is None:
            pending.last_number = await NumberSequence.reserve(TICKET_SEQUENCE, self.conn)
        pending.last_number += 1
        return f"{self.config.ticket_prefix}{pending.last_number}"

    async def _create(self, msg: _Msg, config: dict[str, Any]) -> tuple[str, Detail]:
        email = msg.prepared.email
        contact, _ = self.contact(msg)
        # the contact's id is set when the pending tickets are written (batch_write)
        ticket = new_ticket(email, await self._number(), contact)
        apply_fields(ticket, config["set"], self.lookups.users)
        self.pending.tickets.append((ticket, contact))
        self.lookups.add_ticket(ticket, self._key())
        msg.ticket = ticket
        self.pending.attachments.append((ticket, None, email))
        stored = len(storable_attachments(email))
        msg.counts["tickets_created"] += 1
        msg.events.append(lambda: ("ticket_created", ticket.id, {"number": ticket.number}))
        return "done", created_detail(ticket.number, stored)

    async def plan(self, msg: _Msg) -> None:
        """Run the matched rules' actions of one message against the lookups."""
        for rule in msg.prepared.matched:
            for action in rule.actions:
                kind = action["type"]
                detail: Detail
                if kind == "create_contact":
                    outcome, detail = self.create_contact(msg)
                elif kind == "create_or_update_ticket":
                    outcome, detail = await self.ticket_action(msg, action)
                elif kind == "move_to_folder":
                    target = action["folder"]
                    if target == self.folder:
                        outcome, detail = "skipped", "already in the target folder"
                    else:
                        msg.effects.append({"op": "move", "folder": target})
                        outcome, detail = "pending", f"moved to {target} after commit"
                else:  # delete_message
                    msg.effects.append({"op": "delete"})
                    outcome, detail = "pending", "deleted after commit"
                record = {"type": kind, "rule_id": rule.model.id, "outcome": outcome}
                msg.records.append((record, detail))


async def process_batch(
    batch: FetchBatch,
    *,
    conn: BaseDBAsyncClient,
    prepared: list[Processed | Prepared] | None = None,
) -> list[Processed]:
    """Process `batch` on `conn` (the batch transaction); raises when any message fails.

    `prepared` is batch_prepare.prepare_batch's result for `batch`, when it ran ahead.
    Every result's log row comes back unsaved, for the caller's bulk insert."""
    config, folder, fetched = batch.config, batch.folder, batch.fetched
    if prepared is None:
        prepared = [batch.prepare(m) for m in fetched]
    assignees = _assignees(batch.rules)
    planner = _Planner(config, folder, conn)
    results: list[Processed | _Msg] = []
    stale = True
    for i, (message, item) in enumerate(zip(fetched, prepared, strict=True)):
        if isinstance(item, Processed):
            results.append(item)
            continue
        if not _plannable(item):
            await write_pending(planner.pending, conn)
            results.append(await act_prepared(config, item, folder, conn))
            stale = True  # it may have written rows the lookups do not know
            continue
        if stale:
            rest = [p for p in prepared[i:] if isinstance(p, Prepared)]
            await planner.load(rest, assignees)
            stale = False
        msg = _Msg(message.uid, item)
        await planner.plan(msg)
        results.append(msg)
    await write_pending(planner.pending, conn)
    return [r.processed() if isinstance(r, _Msg) else r for r in results]
