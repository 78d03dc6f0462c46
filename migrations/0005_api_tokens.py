"""API tokens can expire and be revoked with a date, and are recognised by their first
characters (`mailscanner token list`, `apiTokens`). Tokens made before have no prefix: they are
listed and revoked by id."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

class Migration(migrations.Migration):
    dependencies = [('models', '0004_push')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ApiToken',
            name='expires_at',
            field=fields.DatetimeField(null=True, description='Refused from then on, or never if empty', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ApiToken',
            name='prefix',
            field=fields.CharField(null=True, db_index=True, description='First characters of the token, to recognise it (not enough to use it)', max_length=12),
        ),
        ops.AddField(
            model_name='ApiToken',
            name='revoked_at',
            field=fields.DatetimeField(null=True, description='When it was revoked', auto_now=False, auto_now_add=False),
        ),
    ]
