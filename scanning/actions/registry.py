"""The action registry: config validation (for the API) and dispatch (for the pipeline).

Each action lives in its own module with `TYPE`, `LABEL`, `validate(config) -> config`
(normalized, raising ActionConfigError naming the key) and `async run(ctx, config)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..context import ActionOutcome, MessageContext
from . import create_contact, create_or_update_ticket, delete_message, move_to_folder
from .errors import ActionConfigError

__all__ = [
    "ACTIONS",
    "ActionConfigError",
    "ActionSpec",
    "run_action",
    "validate_action",
    "validate_actions",
]


@dataclass(frozen=True)
class ActionSpec:
    type: str
    label: str
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    run: Callable[[MessageContext, dict[str, Any]], Awaitable[ActionOutcome]]


ACTIONS: dict[str, ActionSpec] = {
    m.TYPE: ActionSpec(m.TYPE, m.LABEL, m.validate, m.run)
    for m in (create_contact, create_or_update_ticket, move_to_folder, delete_message)
}


def validate_action(config: Any) -> dict[str, Any]:
    """Check one action's configuration; returns it normalized.

    >>> validate_action({"type": "move_to_folder", "folder": "Done"})
    {'type': 'move_to_folder', 'folder': 'Done'}
    """
    if not isinstance(config, dict):
        raise ActionConfigError("type", 'an action must be an object with a "type"')
    kind = config.get("type")
    spec = ACTIONS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise ActionConfigError(
            "type", f"unknown action type {kind!r}; expected one of " + ", ".join(sorted(ACTIONS))
        )
    return {"type": kind, **spec.validate({k: v for k, v in config.items() if k != "type"})}


def validate_actions(configs: Any) -> list[dict[str, Any]]:
    """Validate a rule's ordered action list; the error names the position and the key."""
    if not isinstance(configs, list):
        raise ActionConfigError("actions", "must be a list")
    out = []
    for i, config in enumerate(configs):
        try:
            out.append(validate_action(config))
        except ActionConfigError as exc:
            raise ActionConfigError(f"actions[{i}].{exc.key}", exc.problem) from None
    return out


async def run_action(ctx: MessageContext, config: dict[str, Any]) -> ActionOutcome:
    return await ACTIONS[config["type"]].run(ctx, config)
