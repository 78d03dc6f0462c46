"""Comment emails that were not sent say why: `reason` on the outbox row (no recipient, the
template exceeded a limit or failed to render). Nullable: the rows there are keep null."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from mailscanner.models.outbound_email import DeliveryReason


class Migration(migrations.Migration):
    dependencies = [("models", "0007_attachments")]

    initial = False

    operations = [
        ops.AddField(
            model_name="OutboundEmail",
            name="reason",
            field=fields.CharEnumField(
                null=True,
                description="Why the email was not sent (with status failed)",
                enum_type=DeliveryReason,
                max_length=32,
            ),
        ),
    ]
