from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from .scanner import Scanner


class FolderState(Model):
    """Checkpoint per scanner folder: messages up to `last_uid` under `uidvalidity` are done."""

    id = fields.IntField(primary_key=True)
    scanner: fields.ForeignKeyRelation[Scanner] = fields.ForeignKeyField(
        "models.Scanner", related_name="folder_states", on_delete=fields.CASCADE)
    folder = fields.CharField(max_length=500)
    uidvalidity = fields.BigIntField()
    last_uid = fields.BigIntField(default=0)
    # The folder's UIDNEXT when scanning it began (activation, else its first read): mail
    # below it was there before (left alone with start from NOW, imported as history when
    # the scanner imports history); 0 when not recorded.
    start_uid = fields.BigIntField(default=0, db_default=0)
    # STATUS before the last successful scan of this folder (see watch/signature.py).
    status_signature = fields.CharField(max_length=200, null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_folder_state"
        unique_together = (("scanner", "folder"),)
