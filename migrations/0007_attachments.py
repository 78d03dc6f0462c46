"""Attachments move to the blob store; comment emails keep an attempt history.

1. `ms_attachment` gains `storage` (backend name), `storage_key` (the blob's key: its
   SHA-256) and `skipped_reason` (TOO_LARGE / UNDECODABLE files are listed without bytes).
2. Every stored row's bytes are written to the local blob store (MAILSCANNER_ATTACHMENTS_DIR,
   else `<MAILSCANNER_DATA_DIR>/attachments`), one row at a time so a database of large
   files is never held in memory; identical files become one blob.
3. The `content` column is dropped (in place on SQLite: no table rebuild copying the bytes).
   Downgrading adds it back (nullable) and reads the bytes back from the blob store.
4. `ms_delivery_attempt` records every send attempt, and `ms_outbound_email` gets
   `resent_at_attempt` (automatic retries of a resent email count from there).
"""

import asyncio
from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor

from mailscanner.models.attachment import SkippedReason
from mailscanner.models.outbound_email import DeliveryStatus
from mailscanner.settings import blob_dir_from_env
from mailscanner.storage.blobs import LocalBlobStore


def _params(editor: BaseSchemaEditor, count: int) -> list[str]:
    if editor.client.capabilities.dialect == "postgres":
        return [f"${i}" for i in range(1, count + 1)]
    return ["?"] * count


async def _bytes_to_blobs(apps: object, editor: BaseSchemaEditor) -> None:
    store = LocalBlobStore(blob_dir_from_env())
    client = editor.client
    p = _params(editor, 4)
    last = 0
    while True:
        _, rows = await client.execute_query(
            f"SELECT id, content FROM ms_attachment WHERE id > {p[0]} ORDER BY id LIMIT 1",
            [last],
        )
        if not rows:
            return
        row: Any = rows[0]
        last = int(row["id"])
        data = bytes(row["content"] or b"")
        blob = await asyncio.to_thread(store.put, [data])
        await client.execute_query(
            f"UPDATE ms_attachment SET storage = 'local', storage_key = {p[0]}, sha256 = {p[1]},"
            f" size = {p[2]} WHERE id = {p[3]}",
            [blob.key, blob.sha256, blob.size, last],
        )


async def _blobs_to_bytes(apps: object, editor: BaseSchemaEditor) -> None:
    store = LocalBlobStore(blob_dir_from_env())
    client = editor.client
    p = _params(editor, 2)
    _, rows = await client.execute_query(
        "SELECT id, storage_key FROM ms_attachment WHERE storage_key IS NOT NULL ORDER BY id"
    )
    for row in rows:
        with store.open(str(row["storage_key"])) as fh:
            data = await asyncio.to_thread(fh.read)
        await client.execute_query(
            f"UPDATE ms_attachment SET content = {p[0]} WHERE id = {p[1]}", [data, int(row["id"])]
        )
    # Skipped files had no bytes before this migration either.
    await client.execute_script("UPDATE ms_attachment SET content = '' WHERE content IS NULL")


class DropContentInPlace(ops.RemoveField):
    """RemoveField without SQLite's table rebuild, reversible on a table with rows."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            await state_editor.client.execute_script(
                'ALTER TABLE "ms_attachment" DROP COLUMN "content"'
            )
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is None:
            return
        kind = "BYTEA" if state_editor.client.capabilities.dialect == "postgres" else "BLOB"
        await state_editor.client.execute_script(
            f'ALTER TABLE "ms_attachment" ADD COLUMN "content" {kind}'
        )


class Migration(migrations.Migration):
    dependencies = [("models", "0006_start_from")]

    initial = False

    operations = [
        ops.CreateModel(
            name="DeliveryAttempt",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True,
                                       db_index=True)),
                ("outbound_email", fields.ForeignKeyField(
                    "models.OutboundEmail", source_field="outbound_email_id", db_constraint=True,
                    to_field="id", related_name="attempt_history", on_delete=OnDelete.CASCADE)),
                ("number", fields.IntField(description="Attempt number of the email")),
                ("status", fields.CharEnumField(
                    description="SENT, FAILED, or QUEUED (failed, retried later)",
                    enum_type=DeliveryStatus, max_length=7)),
                ("error", fields.TextField(null=True, description="Why it failed", unique=False)),
                ("at", fields.DatetimeField(description="When it ended", auto_now=False,
                                            auto_now_add=True)),
            ],
            options={"table": "ms_delivery_attempt", "app": "models", "pk_attr": "id",
                     "table_description": "One try at sending an outbox row, kept for the "
                     "comment's delivery history (a resend"},
            bases=["Model"],
        ),
        ops.AlterModelOptions(
            name="Attachment",
            options={"table": "ms_attachment", "app": "models", "pk_attr": "id",
                     "table_description": "A file that came with an email or with an agent's "
                     "comment: kept on the ticket (and"},
        ),
        ops.AddField(
            model_name="Attachment",
            name="skipped_reason",
            field=fields.CharEnumField(null=True, description="Why the file's bytes were not kept",
                                       enum_type=SkippedReason, max_length=11),
        ),
        ops.AddField(
            model_name="Attachment",
            name="storage",
            field=fields.CharField(default="local", db_default="local",
                                   description="Blob store backend holding the bytes",
                                   max_length=16),
        ),
        ops.AddField(
            model_name="Attachment",
            name="storage_key",
            field=fields.CharField(null=True, db_index=True, description="Key of the bytes in "
                                   "the blob store (null: skipped, no bytes kept)",
                                   max_length=255),
        ),
        ops.RunPython(_bytes_to_blobs, _blobs_to_bytes),
        DropContentInPlace(model_name="Attachment", name="content"),
        ops.AddField(
            model_name="OutboundEmail",
            name="resent_at_attempt",
            field=fields.IntField(default=0, db_default=0),
        ),
    ]
