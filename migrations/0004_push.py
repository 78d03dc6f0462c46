"""Push (IMAP IDLE watchers): the scanner's `push` setting, the watchers' state per scanner,
and the STATUS signature a scan records per folder for the cheap "anything new?" check.
`push` carries a database default so that scanners saved before it get it (on)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from mailscanner.models.push_status import PushState
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_oauth_providers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PushStatus',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scanner', fields.OneToOneField('models.Scanner', source_field='scanner_id', db_constraint=True, to_field='id', related_name='push_status', on_delete=OnDelete.CASCADE)),
                ('state', fields.CharEnumField(null=True, description='Where the watcher stands', enum_type=PushState, max_length=11)),
                ('since', fields.DatetimeField(null=True, description='When the watcher entered this state', auto_now=False, auto_now_add=False)),
                ('last_event_at', fields.DatetimeField(null=True, description='When the server last reported a change', auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, description='Why the last connection failed', unique=False)),
                ('watcher', fields.CharField(null=True, max_length=200)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'ms_push_status', 'app': 'models', 'pk_attr': 'id', 'table_description': "How the watcher of a scanner's mailbox stands, written by whichever process watches it."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='FolderState',
            name='status_signature',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='Scanner',
            name='push',
            field=fields.BooleanField(default=True, db_default=True, description='Keep a connection open per folder (IMAP IDLE) so new mail is scanned within seconds (the interval still applies, as a safety net)'),
        ),
    ]
