"""Mail-path hardening: the scan lock's lease table (one row per scanner key, taken with a
conditional UPDATE, see models/scan_lease.py), run and scanner warnings (a missing rule folder
warns instead of failing the run), the scanner's explicit receiving address, and the rule
name on message-log rows (kept when the rule is deleted). `ScanRun.warnings` carries a
database default for the runs that exist already."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_isolation')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ScanLease',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=200)),
                ('owner', fields.CharField(default='', description='host:pid:token of the holder (empty when free)', max_length=200)),
                ('expires_ms', fields.BigIntField(default=0, description='Epoch milliseconds after which the holder counts as dead')),
                ('taken_at', fields.DatetimeField(null=True, description='When the holder took it', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ms_scan_lease', 'app': 'models', 'pk_attr': 'key', 'table_description': 'The scan lock of one scanner (its key), held by `owner` until `expires_ms`.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='MessageLog',
            name='rule_name',
            field=fields.CharField(null=True, description='The rule that matched', max_length=200),
        ),
        ops.AddField(
            model_name='ScanRun',
            name='warnings',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Scanner',
            name='address',
            field=fields.CharField(null=True, description="The address this mailbox receives mail for, when neither the login nor the mailbox name is that address (e.g. a login like 'helpdesk01'), so the SMTP settings check the sender against it", max_length=320),
        ),
        ops.AddField(
            model_name='Scanner',
            name='warnings',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
