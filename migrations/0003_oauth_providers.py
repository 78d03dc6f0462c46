"""OAuth providers: Microsoft accounts become provider accounts (Google joins them),
Microsoft app-only scanners, and the server's cross-folder message id in the message log.

The account table is renamed, not re-created, so authorized Microsoft accounts (and the
scanners and SMTP settings pointing at them) survive the upgrade. New NOT NULL columns
carry a database default, which fills the rows that exist (Tortoise adds columns without
one otherwise, and a table with rows refuses that).
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from mailscanner.models.oauth_account import OAuthProvider
from mailscanner.models.scanner import MicrosoftAuth
from mailscanner.models.smtp_settings import SmtpAuth


class RenameModelAndTable(ops.RenameModel):
    """RenameModel keeps a custom `Meta.table`; this one renames the table as well."""

    def __init__(self, old_name: str, new_name: str, new_table: str) -> None:
        super().__init__(old_name, new_name)
        self.new_table = new_table

    def state_forward(self, app_label, state):  # type: ignore[no-untyped-def]
        super().state_forward(app_label, state)
        model_state = state.models[(app_label, self.new_name)]
        model_state.table = self.new_table
        model_state.options["table"] = self.new_table
        state.reload_model(app_label, self.new_name)


class AlterFieldExceptOnSqlite(ops.AlterField):
    """Changes only a comment or a VARCHAR length, which SQLite does not keep or enforce;
    there AlterField rebuilds the table (create, copy, drop), and dropping ms_scanner would
    cascade to its rules and message log."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            return
        await super().database_backward(app_label, old_state, new_state, state_editor)


def _index_server_message_id(create: bool):  # type: ignore[no-untyped-def]
    """AddField does not create the index of a `db_index=True` field (generate_schemas does):
    create it here, under the name Tortoise gives such an index."""

    async def run(apps, editor) -> None:  # type: ignore[no-untyped-def]
        name = editor._generate_index_name_for_table(
            "idx", "ms_message_log", ["server_message_id"])
        sql = (f'CREATE INDEX IF NOT EXISTS "{name}" ON "ms_message_log" ("server_message_id")'
               if create else f'DROP INDEX IF EXISTS "{name}"')
        await editor.client.execute_script(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("models", "0002_lz4_text")]

    initial = False

    operations = [
        RenameModelAndTable("MicrosoftAccount", "OAuthAccount", "ms_oauth_account"),
        ops.RenameField(model_name="OAuthAccount", old_name="home_account_id", new_name="subject"),
        ops.RenameField(
            model_name="OAuthAccount",
            old_name="token_cache_encrypted",
            new_name="token_data_encrypted",
        ),
        ops.AddField(
            model_name="OAuthAccount",
            name="provider",
            field=fields.CharEnumField(default=OAuthProvider.MICROSOFT, description="Who signed the account in", db_default=OAuthProvider.MICROSOFT, enum_type=OAuthProvider, max_length=9),
        ),
        ops.AlterModelOptions(
            name="OAuthAccount",
            options={"table": "ms_oauth_account", "app": "models", "pk_attr": "id", "table_description": "An account authorized through a provider's sign-in, its token data encrypted."},
        ),
        ops.AddField(
            model_name="MessageLog",
            name="server_message_id",
            field=fields.CharField(null=True, db_index=True, description="The server's id of the message across folders (Gmail's X-GM-MSGID)", max_length=40),
        ),
        ops.RunPython(_index_server_message_id(True), _index_server_message_id(False)),
        ops.AlterModelOptions(
            name="OAuthAppSettings",
            options={"table": "ms_oauth_app", "app": "models", "pk_attr": "id", "table_description": "A provider's app registration (Azure, Google Cloud) used to authorize accounts."},
        ),
        AlterFieldExceptOnSqlite(
            model_name="OAuthAppSettings",
            name="tenant",
            field=fields.CharField(default="common", description="Microsoft: Directory (tenant) ID, or common / organizations", max_length=200),
        ),
        ops.AddField(
            model_name="OAuthAppSettings",
            name="provider",
            field=fields.CharEnumField(default=OAuthProvider.MICROSOFT, unique=True, description="MICROSOFT: microsoft\nGOOGLE: google", db_default=OAuthProvider.MICROSOFT, enum_type=OAuthProvider, max_length=9),
        ),
        ops.AlterModelOptions(
            name="OAuthFlow",
            options={"table": "ms_oauth_flow", "app": "models", "pk_attr": "id", "table_description": "A pending authorization (auth-code flow with PKCE), kept server-side until it expires."},
        ),
        ops.AddField(
            model_name="OAuthFlow",
            name="provider",
            field=fields.CharEnumField(default=OAuthProvider.MICROSOFT, description="MICROSOFT: microsoft\nGOOGLE: google", db_default=OAuthProvider.MICROSOFT, enum_type=OAuthProvider, max_length=9),
        ),
        AlterFieldExceptOnSqlite(
            model_name="Scanner",
            name="oauth_account",
            field=fields.ForeignKeyField("models.OAuthAccount", source_field="oauth_account_id", null=True, description="OAuth: the authorized Microsoft or Google account used to log in", db_constraint=True, to_field="id", related_name="scanners", on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name="Scanner",
            name="microsoft_auth",
            field=fields.CharEnumField(default=MicrosoftAuth.DELEGATED, description="Microsoft OAuth: a user's delegated sign-in, or the app's own permission (IMAP.AccessAsApp) without a user", db_default=MicrosoftAuth.DELEGATED, enum_type=MicrosoftAuth, max_length=9),
        ),
        AlterFieldExceptOnSqlite(
            model_name="SmtpSettings",
            name="auth",
            field=fields.CharEnumField(default=SmtpAuth.PASSWORD, description="How to authenticate", enum_type=SmtpAuth, max_length=18),
        ),
    ]
