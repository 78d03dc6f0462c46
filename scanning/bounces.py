"""What a bounce does to the helpdesk: the comment email it reports is marked bounced.

Shared by the per-message path (process.py) and the batch planner (planner.py), so a bounce
is looked up and worded alike whichever path (or a dry run) handles it.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from ..mail.parsing import BounceInfo
from ..models import OutboundEmail

__all__ = ["NOT_OURS", "bounce_error", "bounced_email", "delayed"]

NOT_OURS = "not a reply we sent"


async def bounced_email(info: BounceInfo, conn: BaseDBAsyncClient) -> OutboundEmail | None:
    """The comment email a bounce reports as undelivered, when we sent it."""
    mid = info.original_message_id
    if not mid:
        return None
    return await OutboundEmail.filter(message_id__in=[mid, f"<{mid}>"]).using_db(conn).first()


def bounce_error(info: BounceInfo) -> str:
    """The delivery error recorded on the bounced comment email."""
    recipients = ", ".join(info.recipients)
    return f"Bounced ({info.status or 'delivery failed'})" + (
        f" for {recipients}" if recipients else ""
    )


def delayed(sent: OutboundEmail) -> str:
    """Why a delay warning fails nothing: the remote MTA keeps trying."""
    return f"outbound email {sent.id} delayed, not failed"
