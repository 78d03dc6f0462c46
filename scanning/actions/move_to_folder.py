"""Move the message to a named folder, created when missing (applied after the commit)."""

from __future__ import annotations

from typing import Any

from ..context import ActionOutcome, MessageContext
from .errors import ActionConfigError, check_keys

TYPE = "move_to_folder"
LABEL = "Move to folder"


def validate(config: dict[str, Any]) -> dict[str, Any]:
    check_keys(config, {"folder"})
    folder = config.get("folder")
    if not isinstance(folder, str) or not folder.strip():
        raise ActionConfigError("folder", "the target folder name is required")
    if len(folder) > 500 or any(c in folder for c in "\r\n\0*%"):
        raise ActionConfigError("folder", "not a valid folder name")
    return {"folder": folder.strip()}


async def run(ctx: MessageContext, config: dict[str, Any]) -> ActionOutcome:
    target = config["folder"]
    if target == ctx.folder:
        return ActionOutcome("skipped", "already in the target folder")
    ctx.effects.append({"op": "move", "folder": target})
    return ActionOutcome("pending", f"moved to {target} after commit")
