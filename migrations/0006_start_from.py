"""Where a scanner starts: `start_from` (all | now | date) and `start_date` replace the old
`scan_from` timestamp (a scanner that had one starts from its date), `import_history_as`
(the status for mail already there when scanning starts), and each folder's `start_uid`.
The two new NOT NULL columns carry a database default for the rows that exist already.
On SQLite the old column is dropped in place (ALTER TABLE DROP COLUMN, SQLite >= 3.35):
RemoveField would rebuild ms_scanner, and dropping the old table cascades to its rules,
runs and message log."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor

from mailscanner.models.scanner import StartFrom
from mailscanner.models.ticket import TicketStatus

_DAY = {"postgres": "(scan_from AT TIME ZONE 'UTC')::date", "sqlite": "date(scan_from)"}


class RemoveColumnInPlace(ops.RemoveField):
    """RemoveField without SQLite's table rebuild (see the module docstring)."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            await state_editor.client.execute_script(
                'ALTER TABLE "ms_scanner" DROP COLUMN "scan_from"'
            )
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)


async def _scan_from_to_start_date(apps: object, editor: BaseSchemaEditor) -> None:
    day = _DAY.get(editor.client.capabilities.dialect, "CAST(scan_from AS DATE)")
    await editor.client.execute_script(
        f"UPDATE ms_scanner SET start_from = 'date', start_date = {day} "
        "WHERE scan_from IS NOT NULL"
    )


async def _start_date_to_scan_from(apps: object, editor: BaseSchemaEditor) -> None:
    await editor.client.execute_script(
        "UPDATE ms_scanner SET scan_from = start_date WHERE start_from = 'date'"
    )


class Migration(migrations.Migration):
    dependencies = [("models", "0005_api_tokens")]

    initial = False

    operations = [
        ops.AddField(
            model_name="FolderState",
            name="start_uid",
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name="Scanner",
            name="import_history_as",
            field=fields.CharEnumField(
                null=True,
                description="Mail already in the mailbox when scanning starts becomes tickets "
                "with this status and its original dates, without notifying anyone (empty: "
                "like new mail)",
                enum_type=TicketStatus,
                max_length=17,
            ),
        ),
        ops.AddField(
            model_name="Scanner",
            name="start_date",
            field=fields.DateField(
                null=True,
                description="With start from date: mail received (IMAP INTERNALDATE) before it "
                "is never read",
            ),
        ),
        ops.AddField(
            model_name="Scanner",
            name="start_from",
            field=fields.CharEnumField(
                default=StartFrom.ALL,
                description="Where scanning starts: all mail the scan type picks, only mail "
                "that arrives after activation, or mail received on or after the start date. "
                "Fixed once the scanner has been activated or scanned",
                db_default=StartFrom.ALL,
                enum_type=StartFrom,
                max_length=4,
            ),
        ),
        ops.RunPython(_scan_from_to_start_date, _start_date_to_scan_from),
        RemoveColumnInPlace(model_name="Scanner", name="scan_from"),
    ]
