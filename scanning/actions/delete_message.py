"""Delete the message from the mailbox (after the database commit, with UID EXPUNGE)."""

from __future__ import annotations

from typing import Any

from ..context import ActionOutcome, MessageContext
from .errors import check_keys

TYPE = "delete_message"
LABEL = "Delete message"


def validate(config: dict[str, Any]) -> dict[str, Any]:
    check_keys(config, set())
    return {}


async def run(ctx: MessageContext, config: dict[str, Any]) -> ActionOutcome:
    ctx.effects.append({"op": "delete"})
    return ActionOutcome("pending", "deleted after commit")
