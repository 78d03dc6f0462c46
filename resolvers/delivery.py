"""resendCommentEmail: queue a failed comment email again, exactly once per request.

One conditional UPDATE (status FAILED or BOUNCED -> QUEUED) decides: of two agents pressing "resend"
at once, one wins and the other is told it is in progress. The row keeps its attempt count
(the send job fences on it) and records `resent_at_attempt`, from which the new round's
automatic retries count; the attempt history (`delivery { history }`) keeps every try.
The recipients are worked out again, so a contact's corrected address is used; an email
that was never rendered (nobody to send to then, or its template failed: `reason` is set) is
rendered now, under the template limits.
"""
from __future__ import annotations

import strawberry
from tortoise.expressions import F

from .. import events, models
from ..models.outbound_email import DeliveryStatus
from ..outbound.outbox import current_recipients, rerender_comment_email
from ..schema.delivery import ResendCommentEmailResult, ResendRefusal, ResendRefusedError
from ..schema.ticket import CommentPayload, CommentType
from .common import get_or_none, not_found
from .context import Info
from .permissions import IsAgent

_BUSY = {DeliveryStatus.QUEUED: "is still queued", DeliveryStatus.SENDING: "is being sent"}
RESENDABLE = (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED)


@strawberry.type
class DeliveryMutations:
    @strawberry.mutation(permission_classes=[IsAgent], description=(
        "Send a comment's email again after it FAILED (permanent SMTP error, retries "
        "exhausted) or BOUNCED, e.g. once the SMTP settings or the contact's address are "
        "fixed. Refused while it is queued or sending, and once it was SENT."))
    async def resend_comment_email(self, info: Info,
                                   comment_id: strawberry.ID) -> ResendCommentEmailResult:
        comment = await get_or_none(models.Comment, comment_id)
        if comment is None:
            return not_found("Comment", comment_id)
        row = await models.OutboundEmail.filter(comment_id=comment.id).order_by("-id").first()
        if row is None:
            return ResendRefusedError(
                message="This comment was never emailed (internal, from the customer, or "
                "nobody could receive it)", code=ResendRefusal.NOT_EMAILED, status=None)
        if row.status == DeliveryStatus.SENT:
            return ResendRefusedError(message="The email was already sent",
                                      code=ResendRefusal.ALREADY_SENT, status=row.status)
        if row.status not in RESENDABLE:
            return ResendRefusedError(message=f"The email {_BUSY[row.status]}",
                                      code=ResendRefusal.IN_PROGRESS, status=row.status)
        recipients = await current_recipients(comment.ticket_id)  # type: ignore[attr-defined]
        if not recipients:
            return ResendRefusedError(
                message="The ticket has nobody to email now: give its contact an address",
                code=ResendRefusal.NO_RECIPIENT, status=row.status)
        if row.reason is not None:  # never rendered: nobody to send to, or the template failed
            rendering = await rerender_comment_email(comment)
            if rendering is None:
                return ResendRefusedError(
                    message="The comment template is inactive: activate it to send comment "
                    "emails", code=ResendRefusal.NOT_EMAILED, status=row.status)
            if rendering.mail is None:  # still failing: the delivery says why
                await models.OutboundEmail.filter(id=row.id, status=row.status).update(
                    reason=rendering.reason, last_error=rendering.error)
                return CommentPayload(comment=CommentType.from_model(comment))
            mail = rendering.mail
            await models.OutboundEmail.filter(id=row.id, status=row.status).update(
                subject=mail.subject, text_body=mail.text, html_body=mail.html)
        won = await models.OutboundEmail.filter(id=row.id, status=row.status).update(
            status=DeliveryStatus.QUEUED, next_attempt_at=None, last_error=None, reason=None,
            recipients=recipients, resent_at_attempt=F("attempts"))
        if not won:
            return ResendRefusedError(message="The email is already being resent",
                                      code=ResendRefusal.IN_PROGRESS, status=DeliveryStatus.QUEUED)
        from ..workers.queue import get_queue
        from ..workers.send import send_job_id
        await get_queue().enqueue("send_outbound", row.id,
                                  job_id=send_job_id(row.id, row.attempts or 1))
        await events.publish_ticket_event("comment_email_queued", comment.ticket_id,  # type: ignore[attr-defined]
                                          comment_id=comment.id, outbound_id=row.id)
        return CommentPayload(comment=CommentType.from_model(comment))
