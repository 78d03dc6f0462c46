"""The decide step of a scan: what each message's matched rules do, planned in memory.

A `Planner` holds the lookups of a batch (batch_lookup.py) and the rows planned so far
(`Pending`). `plan(message)` runs the message's matched actions in order against both, as
the per-message actions (actions/) would run them against committed rows: the sender's
contact found or planned, the ticket it continues found (Message-ID, ticket number, custom
pattern, same subject: ticket_matching.py) or a new one planned with the next number, a
bounce's comment email marked bounced, moves and deletes recorded as IMAP effects. Each
action is recorded twice: as the log row will say it once the rows exist (`detail`, which
may need their ids) and as a dry run says it (`preview`: "would create ticket TT13"); the
decisions are data (plan.py).

Two callers, one decision: the scan (batch.py) writes the plan (batch_write.py) in the
batch transaction, reserving ticket numbers; the dry run (dry_run.py) only reads, peeking
at the ticket counter, and never writes what it planned. Nothing here writes to the
database; a failure raises, and the scan then redoes its batch one message at a time.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from ..models import Account, Contact, Ticket, normalize_email
from ..models import Sequence as NumberSequence
from ..models.bulk import new_row
from ..outbound.threading import ticket_number_from_message_id
from ..storage.attachments import skipped_note, stored_count
from .actions.create_or_update_ticket import (
    apply_fields,
    apply_update_fields,
    as_history,
    attachment_policy,
    comment_text,
    created_detail,
    mail_date,
    new_ticket,
    updated_detail,
)
from .batch_lookup import PLANNED_KEY, Lookups, load_lookups, reference_ids
from .batch_write import TICKET_SEQUENCE, NewComment, Pending
from .bounces import NOT_OURS, bounce_error, bounced_email, delayed
from .context import HistoryImport, ScanConfig
from .plan import Detail, PlannedAction, PlannedMessage
from .process import Prepared
from .ticket_matching import (
    SUBJECT_CANDIDATES,
    normalize_subject,
    number_pattern,
    regex_numbers,
    subject_candidates,
    subject_key,
)

__all__ = ["Planner"]

HOW = {
    "message_id": "matched by Message-ID",
    "subject_number": "matched by the ticket number in the subject",
    "regex": "matched by the rule's ticket pattern",
    "subject": "matched by the same subject",
}


def _who(contact: Contact) -> str:
    return contact.email or contact.name


def _fields(values: dict[str, Any]) -> str:
    """`{"status": CLOSED, "assignee_id": 3}` -> `" (status closed, assignee 3)"`."""
    shown = ", ".join(
        f"{k.removesuffix('_id')} {getattr(v, 'value', v)}" for k, v in values.items()
    )
    return f" ({shown})" if shown else ""


class Planner:
    """Plans one batch's messages in UID order (see the module docstring).

    `dry`: peek at the ticket counter instead of reserving it (a dry run writes nothing)."""

    def __init__(
        self,
        config: ScanConfig,
        folder: str,
        conn: BaseDBAsyncClient,
        *,
        dry: bool = False,
        history: HistoryImport | None = None,
    ) -> None:
        self.config, self.folder, self.conn, self.dry = config, folder, conn, dry
        self.history = history
        self.lookups = Lookups()
        self.pending = Pending()
        self.accounts: dict[str, int] = {}
        self.created: list[Ticket] = []  # tickets planned since the lookups were loaded
        self.serial = 0

    def _key(self) -> int:
        self.serial += 1
        return PLANNED_KEY + self.serial

    async def load(self, emails: list[Prepared], users: set[int]) -> None:
        """Load what `emails` may ask about (everything planned before is written)."""
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
        prefix = self.config.ticket_prefix
        numbers = {
            number
            for p in emails
            if not p.automated
            for rule in p.matched
            for action in rule.actions
            if action.get("regex")
            for number in regex_numbers(p.email, action["regex"], prefix)
        }
        self.lookups = await load_lookups(
            [p.email for p in emails],
            prefix=prefix,
            domain=self.config.message_id_domain,
            assignees=users,
            conn=self.conn,
            numbers=numbers,
        )
        self.created = []

    # -- create_contact ---------------------------------------------------------------
    def contact(self, msg: PlannedMessage) -> tuple[Contact | None, bool]:
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

    def create_contact(self, msg: PlannedMessage) -> tuple[str, Detail, str]:
        if msg.prepared.automated:
            return "skipped", msg.prepared.automated, f"skipped: {msg.prepared.automated}"
        contact, created = self.contact(msg)
        if contact is None:
            why = "the mail has no sender address"
            return "skipped", why, f"skipped: {why}"
        verb = "created" if created else "found"
        if created:
            preview = f"would create contact {_who(contact)}"
        elif contact._saved_in_db:
            preview = f"contact {_who(contact)} exists"
        else:
            preview = f"contact {_who(contact)}, created for an earlier message"
        return "done", lambda: f"{verb} contact {contact.id}", preview

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

    async def _by_subject(self, subject: str) -> Ticket | None:
        """Subject matching as ticket_matching.find_ticket does it, with the tickets planned
        in this batch (newest of all) ahead of the stored ones."""
        key = subject_key(subject)
        if key is None:
            return None
        wanted, core = key
        folded = core.casefold()
        planned = [t for t in reversed(self.created) if folded in t.title.casefold()]
        planned = planned[:SUBJECT_CANDIDATES]
        stored = await subject_candidates(core, self.conn, SUBJECT_CANDIDATES - len(planned))
        for found in [*planned, *stored]:
            if normalize_subject(found.title) != wanted:
                continue
            if found._saved_in_db:  # the batch's own instance, which may hold planned changes
                known = self.lookups.by_id.get(found.id)
                if known is None:
                    self.lookups.add_ticket(found, found.id)
                    known = found
                return known
            return found
        return None

    async def find_ticket(
        self, msg: PlannedMessage, config: dict[str, Any]
    ) -> tuple[Ticket, str] | None:
        email = msg.prepared.email
        ids = reference_ids(email)
        if ids and (ticket := self._by_message_ids(ids)) is not None:
            return ticket, "message_id"
        prefix = self.config.ticket_prefix
        numbers = [f"{prefix}{n}" for n in number_pattern(prefix).findall(email.subject)]
        for number in dict.fromkeys(numbers):
            if (ticket := self.lookups.by_number.get(number)) is not None:
                return ticket, "subject_number"
        if config.get("regex"):
            for number in regex_numbers(email, config["regex"], prefix):
                if (ticket := self.lookups.by_number.get(number)) is not None:
                    return ticket, "regex"
        if config.get("match_subject") and (ticket := await self._by_subject(email.subject)):
            return ticket, "subject"
        return None

    async def ticket_action(
        self, msg: PlannedMessage, config: dict[str, Any]
    ) -> tuple[str, Detail, str]:
        p = msg.prepared
        if p.automated:
            return "skipped", p.automated, f"skipped: {p.automated}"
        if (match := await self.find_ticket(msg, config)) is not None:
            return self._update(msg, *match, config)
        mid = p.email.message_id
        if mid and (same := self.lookups.newest_by_source([mid])) is not None:
            msg.ticket = same
            why = f"ticket {same.number} was created from this mail"
            return "duplicate", why, f"nothing to do: {why}"
        return await self._create(msg, config)

    def _update(
        self, msg: PlannedMessage, ticket: Ticket, how: str, config: dict[str, Any]
    ) -> tuple[str, Detail, str]:
        email = msg.prepared.email
        msg.ticket = ticket
        mid = email.message_id
        if mid and (ticket.source_message_id == mid or self.lookups.has_comment(ticket, mid)):
            why = f"already on ticket {ticket.number}"
            return "duplicate", why, f"nothing to do: {why}"
        contact, _ = self.contact(msg)
        body, quoted = msg.prepared.comment or comment_text(email)
        comment = NewComment(ticket, contact, body, mid, quoted)
        self.pending.comments.append(comment)
        if mid:
            self.lookups.comments.setdefault(mid, []).append((self._key(), ticket))
        msg.comment = comment
        self.pending.attachments.append((ticket, comment, email))
        if msg.history:  # old news: the ticket's state stays, dated by the mail
            changed: list[str] = []
            comment.created_at = mail_date(email)
            if ticket.updated_at is None or ticket.updated_at < comment.created_at:
                ticket.updated_at = comment.created_at
            if ticket._saved_in_db:
                self.pending.dated[ticket.id] = ticket
            msg.counts["imported"] += 1
        else:
            changed = apply_update_fields(ticket, config, self.lookups.users)
            if ticket._saved_in_db:  # a ticket planned in this batch is inserted as it ends up
                was = self.pending.touched.get(ticket.id, (ticket, False))[1]
                self.pending.touched[ticket.id] = (ticket, was or bool(changed))
            else:  # news, also for a ticket history opened: stamped now when inserted
                ticket.updated_at = None  # type: ignore[assignment]
        msg.counts["comments_added"] += 1
        msg.counts["tickets_updated"] += 1
        msg.events.append(lambda: ("comment_added", ticket.id, {"comment_id": comment.id}))
        if changed:
            msg.events.append(lambda: ("ticket_updated", ticket.id, {"fields": changed}))
        earlier = "" if ticket._saved_in_db else "; an earlier message would create it"
        preview = f"would add a comment to {ticket.number} ({HOW[how]}{earlier})"
        if msg.history:
            preview += f", dated {comment.created_at:%Y-%m-%d} (history)"
        if changed:
            preview += "; would set" + _fields({n: getattr(ticket, n) for n in changed})
        skipped = skipped_note(email, attachment_policy(self.config).max_bytes)
        return (
            "done",
            lambda: updated_detail(comment.id, ticket.number, how, changed, skipped),
            preview,
        )

    async def _number(self) -> str:
        pending = self.pending
        if pending.last_number is None:
            counter = NumberSequence.peek if self.dry else NumberSequence.reserve
            pending.last_number = await counter(TICKET_SEQUENCE, self.conn)
        pending.last_number += 1
        return f"{self.config.ticket_prefix}{pending.last_number}"

    async def _create(self, msg: PlannedMessage, config: dict[str, Any]) -> tuple[str, Detail, str]:
        email = msg.prepared.email
        contact, _ = self.contact(msg)
        # the contact's id is set when the pending tickets are written (batch_write)
        ticket = new_ticket(email, await self._number(), contact)
        apply_fields(ticket, config["set"], self.lookups.users)
        if msg.history:
            as_history(ticket, msg.history, mail_date(email))
            msg.counts["imported"] += 1
        self.pending.tickets.append((ticket, contact))
        self.lookups.add_ticket(ticket, self._key())
        self.created.append(ticket)
        msg.ticket = ticket
        self.pending.attachments.append((ticket, None, email))
        limit = attachment_policy(self.config).max_bytes
        stored = stored_count(email, limit)
        msg.counts["tickets_created"] += 1
        msg.events.append(lambda: ("ticket_created", ticket.id, {"number": ticket.number}))
        shown = [*config["set"], *(["status"] if msg.history else [])]
        set_ = {k: v for k in dict.fromkeys(shown) if (v := getattr(ticket, k)) is not None}
        preview = f"would create ticket {ticket.number}" + _fields(set_)
        if msg.history:
            preview += f", dated {ticket.created_at:%Y-%m-%d} (history)"
        if stored:
            preview += f" with {stored} attachment(s)"
        skipped = skipped_note(email, limit)
        return "done", created_detail(ticket.number, stored, skipped), preview + skipped

    # -- bounces, IMAP effects --------------------------------------------------------
    async def bounce(self, msg: PlannedMessage) -> PlannedAction | None:
        """A bounce's comment email is marked bounced (process._handle_bounce's decision)."""
        info = msg.prepared.email.bounce
        if info is None or not info.original_message_id:
            return None
        record = {"type": "bounce"}
        sent = await bounced_email(info, self.conn)
        if sent is None:
            return PlannedAction({**record, "outcome": "skipped"}, NOT_OURS, NOT_OURS)
        if info.delayed:  # the remote MTA keeps trying: nothing failed yet
            why = delayed(sent)
            return PlannedAction({**record, "outcome": "skipped"}, why, f"nothing to do: {why}")
        error = bounce_error(info)
        self.pending.failed.append((sent, error))
        ticket_id: int = sent.ticket_id  # type: ignore[attr-defined]
        msg.events.append(
            lambda: (
                "comment_email_failed",
                ticket_id,
                {"outbound_email_id": sent.id, "error": error},
            )
        )
        return PlannedAction(
            {**record, "outcome": "done"},
            f"outbound email {sent.id} marked bounced",
            f"would mark comment email {sent.id} as failed: {error}",
        )

    def move(self, msg: PlannedMessage, target: str) -> tuple[str, Detail, str]:
        if target == self.folder:
            why = "already in the target folder"
            return "skipped", why, f"skipped: {why}"
        msg.effects.append({"op": "move", "folder": target})
        return "pending", f"moved to {target} after commit", f"would move to {target}"

    def delete(self, msg: PlannedMessage) -> tuple[str, Detail, str]:
        msg.effects.append({"op": "delete"})
        return "pending", "deleted after commit", "would delete"

    async def plan(self, msg: PlannedMessage) -> None:
        """Run the message's bounce handling and matched rules' actions, in order."""
        msg.history = self.history.of(msg.uid) if self.history else None
        if msg.prepared.email.kind == "bounce" and (bounce := await self.bounce(msg)):
            msg.actions.append(bounce)
        for rule in msg.prepared.matched:
            for action in rule.actions:
                kind = action["type"]
                if kind == "create_contact":
                    outcome, detail, preview = self.create_contact(msg)
                elif kind == "create_or_update_ticket":
                    outcome, detail, preview = await self.ticket_action(msg, action)
                elif kind == "move_to_folder":
                    outcome, detail, preview = self.move(msg, action["folder"])
                else:  # delete_message
                    outcome, detail, preview = self.delete(msg)
                record = {
                    "type": kind, "rule_id": rule.model.id, "rule_name": rule.model.name,
                    "outcome": outcome,
                }
                msg.actions.append(PlannedAction(record, detail, preview))
