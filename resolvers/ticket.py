"""Tickets and comments: what agents work on all day."""
from __future__ import annotations

import strawberry
from strawberry.file_uploads import Upload
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from .. import events, models
from ..schema.errors import ErrorCode, InputErrors
from ..schema.pagination import Connection
from ..schema.ticket import (
    AddCommentResult,
    CommentPayload,
    CommentType,
    CreateTicketInput,
    TicketFilter,
    TicketPayload,
    TicketResult,
    TicketType,
    UpdateTicketInput,
)
from ..storage.attachments import policy_for
from .common import get_or_none, not_found, paginate, parse_id
from .context import Info
from .permissions import IsAgent
from .uploads import check_uploads, release_uploads, store_uploads, upload_rows
from .validation import check_length, check_required

_RELATIONS = (("assignee_id", models.User, "User"), ("contact_id", models.Contact, "Contact"),
              ("account_id", models.Account, "Account"))


async def _resolve_relations(data: CreateTicketInput | UpdateTicketInput,
                             errors: InputErrors) -> dict[str, int | None]:
    """Validated foreign keys that were given (None entries are left out)."""
    out: dict[str, int | None] = {}
    for attr, model, label in _RELATIONS:
        raw = getattr(data, attr)
        if raw is None:
            continue
        camel = "input." + attr.split("_")[0] + "Id"
        number = parse_id(raw, camel, errors)
        if number is not None and not await model.exists(id=number):
            errors.add(camel, ErrorCode.NOT_FOUND, f"{label} {number} does not exist")
        out[attr] = number
    return out


def _ticket_filter(
    qs: QuerySet[models.Ticket], where: TicketFilter | None
) -> QuerySet[models.Ticket]:
    if where is None:
        return qs
    if where.status:
        qs = qs.filter(status__in=list(where.status))
    for attr in ("assignee_id", "contact_id", "account_id"):
        raw = getattr(where, attr)
        if raw is not None:
            qs = qs.filter(**{attr: parse_id(raw, f"where.{attr[:-3]}Id")})
    if where.search:
        text = where.search.strip()
        qs = qs.filter(Q(title__icontains=text) | Q(number__iexact=text))
    return qs


@strawberry.type
class TicketQueries:
    @strawberry.field(permission_classes=[IsAgent], description="Tickets, newest first")
    async def tickets(self, info: Info, first: int | None = 50, after: str | None = None,
                      where: TicketFilter | None = None) -> Connection[TicketType]:
        qs = _ticket_filter(models.Ticket.all().order_by("-id"), where)
        return await paginate(qs, first, after, TicketType.from_model)

    @strawberry.field(
        permission_classes=[IsAgent], description="One ticket by id or by number (TT123)"
    )
    async def ticket(
        self, info: Info, id: strawberry.ID | None = None, number: str | None = None
    ) -> TicketType | None:
        if id is not None:
            row = await get_or_none(models.Ticket, id)
        elif number is not None:
            row = await models.Ticket.filter(number=number.strip().upper()).first()
        else:
            return None
        return TicketType.from_model(row) if row else None


@strawberry.type
class TicketMutations:
    @strawberry.mutation(permission_classes=[IsAgent])
    async def create_ticket(self, info: Info, input: CreateTicketInput) -> TicketResult:
        errors = InputErrors()
        check_required(errors, "input.title", input.title)
        check_length(errors, "input.title", input.title, 998)
        check_length(errors, "input.category", input.category, 100)
        relations = await _resolve_relations(input, errors)
        if errors.errors:
            return errors.as_result()
        if relations.get("contact_id") and "account_id" not in relations:
            contact = await models.Contact.get(id=relations["contact_id"])
            relations["account_id"] = contact.account_id  # type: ignore[attr-defined]
        async with in_transaction() as conn:
            number = await models.Ticket.allocate_number(info.context.settings.ticket_prefix, conn)
            ticket = await models.Ticket.create(
                using_db=conn,
                number=number,
                title=input.title.strip(),
                description=input.description,
                status=input.status or models.TicketStatus.OPEN,
                priority=input.priority or models.TicketPriority.NORMAL,
                category=input.category,
                **relations,
            )
        await events.publish_ticket_event("ticket_created", ticket.id)
        return TicketPayload(ticket=TicketType.from_model(ticket))

    @strawberry.mutation(permission_classes=[IsAgent])
    async def update_ticket(
        self, info: Info, id: strawberry.ID, input: UpdateTicketInput
    ) -> TicketResult:
        ticket = await get_or_none(models.Ticket, id)
        if ticket is None:
            return not_found("Ticket", id)
        errors = InputErrors()
        if input.title is not None:
            check_required(errors, "input.title", input.title)
        check_length(errors, "input.title", input.title, 998)
        check_length(errors, "input.category", input.category, 100)
        relations = await _resolve_relations(input, errors)
        if errors.errors:
            return errors.as_result()
        for attr in ("title", "description", "status", "priority", "category"):
            value = getattr(input, attr)
            if value is not None:
                setattr(ticket, attr, value)
        for attr, value in relations.items():
            setattr(ticket, attr, value)
        await ticket.save()
        await events.publish_ticket_event("ticket_updated", ticket.id)
        return TicketPayload(ticket=TicketType.from_model(ticket))

    @strawberry.mutation(permission_classes=[IsAgent], description=(
        "Comment on a ticket. Unless internal, the comment is emailed to the customer "
        "through the 'Ticket comment changed' template; `delivery` shows the email's state. "
        "`attachments` (GraphQL multipart request spec) are stored on the comment and sent "
        "as MIME attachments of its email."))
    async def add_comment(self, info: Info, ticket_id: strawberry.ID, body: str,
                          internal: bool = False,
                          attachments: list[Upload] | None = None) -> AddCommentResult:
        ticket = await get_or_none(models.Ticket, ticket_id)
        if ticket is None:
            return not_found("Ticket", ticket_id)
        errors = InputErrors()
        check_required(errors, "body", body)
        check_length(errors, "body", body, 100_000)
        files = list(attachments or [])
        policy = policy_for(info.context.settings)
        check_uploads(files, policy.max_bytes, errors)
        if errors.errors:
            return errors.as_result()
        principal = info.context.principal
        assert principal is not None  # guaranteed by IsAgent
        from ..outbound.outbox import queue_comment_email, render_ahead
        # Rendered before the transaction (in an isolated process, at most 2 s): no
        # transaction, and on SQLite no other request, waits on a template.
        rendering = None if internal else await render_ahead(ticket.id, principal.user, body)
        stored = await store_uploads(files, policy)  # bytes first: rows never name missing ones
        try:
            async with in_transaction() as conn:
                comment = await models.Comment.create(
                    using_db=conn, ticket=ticket, body=body, internal=internal,
                    author_user_id=principal.user.id, source=models.CommentSource.CRM)
                if stored:
                    await models.Attachment.bulk_create(
                        upload_rows(stored, ticket.id, comment.id), using_db=conn)
                outbound = await queue_comment_email(comment, principal.user, conn,
                                                     settings=info.context.settings,
                                                     rendering=rendering)
        except BaseException:
            await release_uploads(stored, policy)
            raise
        # After commit: a job that starts before the commit would not find its row.
        if outbound is not None and outbound.status == models.DeliveryStatus.QUEUED:
            from ..workers.queue import get_queue
            from ..workers.send import send_job_id
            await get_queue().enqueue("send_outbound", outbound.id,
                                      job_id=send_job_id(outbound.id))
        await events.publish_ticket_event("comment_added", ticket.id, comment_id=comment.id)
        if outbound is not None and outbound.status == models.DeliveryStatus.FAILED:
            await events.publish_ticket_event(
                "comment_email_failed", ticket.id, comment_id=comment.id,
                outbound_id=outbound.id, reason=outbound.last_error)
        return CommentPayload(comment=CommentType.from_model(comment))
