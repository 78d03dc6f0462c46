from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from .fields import labelled

if TYPE_CHECKING:
    from .scanner import Scanner


class Rule(Model):
    """A scanner rule: folders it applies to, a condition (serialized rules DSL), actions.

    `condition` holds the DSL's versioned JSON form; `actions` is an ordered list of
    `{"type": "create_contact" | "create_or_update_ticket" | "move_to_folder" |
    "delete_message", ...config}`.
    """

    id = fields.IntField(primary_key=True)
    scanner: fields.ForeignKeyRelation[Scanner] = fields.ForeignKeyField(
        "models.Scanner", related_name="rules", on_delete=fields.CASCADE)
    name = labelled(fields.CharField(max_length=200, description="Rule name"), "Name")
    active = labelled(
        fields.BooleanField(default=True, description="Inactive rules are ignored"), "Active"
    )
    sequence = labelled(
        fields.IntField(default=0, description="Rules are evaluated in this order"), "Order"
    )
    folders: Any = labelled(
        fields.JSONField(default=list, description="Mailbox folders the rule applies to"), "Folders"
    )
    condition: Any = labelled(
        fields.JSONField(description="Condition in the rules language (JSON form)"), "Condition"
    )
    actions: Any = labelled(
        fields.JSONField(default=list, description="Actions run in order when the rule matches"),
        "Actions",
    )
    continue_after_match = labelled(fields.BooleanField(
        default=False, description="Also evaluate later rules after this one matched"), "Continue")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_rule"
        ordering = ["sequence", "id"]
