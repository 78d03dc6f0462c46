from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from .fields import LabelledEnum, labelled

if TYPE_CHECKING:
    from .comment import Comment
    from .contact import Contact
    from .rule import Rule
    from .scan_run import ScanRun
    from .scanner import Scanner
    from .ticket import Ticket


class MessageOutcome(LabelledEnum):
    PROCESSED = ("processed", "Processed")          # actions ran (or no rule matched)
    NO_MATCH = ("no_match", "No rule matched")
    SKIPPED = ("skipped", "Skipped")                # auto-reply, bounce, our own mail, duplicate
    QUARANTINED = ("quarantined", "Quarantined")    # could not be processed; raw kept


class SideEffects(LabelledEnum):
    PENDING = ("pending", "Pending")    # DB committed, IMAP flags/move/delete not yet done
    DONE = ("done", "Done")


class MessageLog(Model):
    """The audit row of one processed message. Its unique key makes reprocessing impossible."""

    id = fields.IntField(primary_key=True)
    scanner: fields.ForeignKeyRelation[Scanner] = fields.ForeignKeyField(
        "models.Scanner", related_name="message_logs", on_delete=fields.CASCADE)
    scan_run: fields.ForeignKeyNullableRelation[ScanRun] = fields.ForeignKeyField(
        "models.ScanRun", related_name="message_logs", null=True, on_delete=fields.SET_NULL)
    folder = labelled(
        fields.CharField(max_length=500, description="Folder the mail was read from"), "Folder"
    )
    uidvalidity = fields.BigIntField()
    uid = fields.BigIntField()
    message_id = labelled(
        fields.CharField(
            max_length=998, null=True, db_index=True, description="The mail's Message-ID"
        ),
        "Message-ID",
    )
    server_message_id = labelled(
        fields.CharField(
            max_length=40,
            null=True,
            db_index=True,
            description="The server's id of the message across folders (Gmail's X-GM-MSGID)",
        ),
        "Server message id",
    )
    subject = labelled(
        fields.CharField(max_length=998, default="", description="The mail's subject"), "Subject"
    )
    sender = labelled(
        fields.CharField(max_length=320, default="", description="The sender's address"), "From"
    )
    outcome = labelled(
        fields.CharEnumField(MessageOutcome, description="What happened to the mail"), "Outcome"
    )
    reason = labelled(
        fields.TextField(null=True, description="Why it was skipped or quarantined"), "Reason"
    )
    rule: fields.ForeignKeyNullableRelation[Rule] = fields.ForeignKeyField(
        "models.Rule", related_name="message_logs", null=True, on_delete=fields.SET_NULL)
    # Kept when the rule is deleted (rule_id then goes null): the log still says which rule.
    rule_name = labelled(
        fields.CharField(max_length=200, null=True, description="The rule that matched"), "Rule"
    )
    actions: Any = fields.JSONField(default=list)   # [{"type", "outcome", "detail"}] in order
    pending_effects: Any = fields.JSONField(default=list)  # IMAP effects still to apply
    side_effects = fields.CharEnumField(SideEffects, default=SideEffects.DONE)
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="message_logs", null=True, on_delete=fields.SET_NULL)
    comment: fields.ForeignKeyNullableRelation[Comment] = fields.ForeignKeyField(
        "models.Comment", related_name="message_logs", null=True, on_delete=fields.SET_NULL)
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="message_logs", null=True, on_delete=fields.SET_NULL)
    raw_message = fields.BinaryField(null=True)  # kept for quarantined mail so it can be retried
    created_at = labelled(
        fields.DatetimeField(auto_now_add=True, description="When it was processed"), "Processed at"
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_message_log"
        unique_together = (("scanner", "folder", "uidvalidity", "uid"),)
        ordering = ["-id"]
