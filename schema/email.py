"""Outgoing mail: SMTP settings (password input-only), email templates and their tags."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from .. import models
from ..outbound.template_tags import TemplateTag
from ..transport.smtp_errors import SmtpErrorCode
from .enums import EncryptionEnum, SmtpAuthEnum
from .errors import NotFoundError, ValidationError

SmtpErrorCodeEnum = strawberry.enum(SmtpErrorCode, name="SmtpErrorCode",
                                    description="Why an SMTP connection or send failed")


@strawberry.enum(description="Who receives a template's mail")
class TemplateRecipient(Enum):
    CONTACT_EMAIL = "contact_email"
    ASSIGNEE_EMAIL = "assignee_email"


@strawberry.enum(description="A saved setting that is allowed but probably wrong")
class SmtpWarningCode(Enum):
    SENDER_NOT_SCANNED = "sender_not_scanned"


@strawberry.type(name="SmtpSettings", description="The outgoing mail server used to email comments")
class SmtpSettingsType:
    host: str
    port: int | None
    effective_port: int
    security: EncryptionEnum  # type: ignore[valid-type]
    validate_certificate: bool
    auth: SmtpAuthEnum  # type: ignore[valid-type]
    username: str
    has_password: bool = strawberry.field(
        description="Whether a password is stored; it is never returned")
    oauth_account_id: strawberry.ID | None
    sender_address: str = strawberry.field(
        description="From address; must be a mailbox a scanner reads, or replies never come back")
    sender_name: str
    updated_at: datetime | None

    @classmethod
    def from_model(cls, m: models.SmtpSettings) -> SmtpSettingsType:
        oauth_id = m.oauth_account_id  # type: ignore[attr-defined]
        return cls(host=m.host, port=m.port, effective_port=m.effective_port, security=m.security,
                   validate_certificate=m.validate_certificate, auth=m.auth, username=m.username,
                   has_password=m.has_password,
                   oauth_account_id=strawberry.ID(str(oauth_id)) if oauth_id else None,
                   sender_address=m.sender_address, sender_name=m.sender_name,
                   updated_at=getattr(m, "updated_at", None))


@strawberry.input(description="SMTP settings; omitted fields keep their value")
class SmtpSettingsInput:
    host: str | None = None
    port: int | None = None
    security: EncryptionEnum | None = None  # type: ignore[valid-type]
    validate_certificate: bool | None = None
    auth: SmtpAuthEnum | None = None  # type: ignore[valid-type]
    username: str | None = None
    password: str | None = strawberry.field(default=None,
                                            description="Write-only; stored encrypted")
    clear_password: bool = strawberry.field(default=False, description="Remove the stored password")
    oauth_account_id: strawberry.ID | None = None
    sender_address: str | None = None
    sender_name: str | None = None


@strawberry.type(description="Saved, but probably not what you want")
class SmtpWarning:
    code: SmtpWarningCode
    message: str


@strawberry.type
class SmtpSettingsPayload:
    smtp_settings: SmtpSettingsType
    warnings: list[SmtpWarning]


@strawberry.type(description="Connected and authenticated; nothing was sent")
class SmtpTestSuccess:
    message: str


@strawberry.type(description="The connection test failed; `message` says what to fix")
class SmtpTestFailure:
    code: SmtpErrorCodeEnum  # type: ignore[valid-type]
    message: str
    temporary: bool = strawberry.field(description="True if retrying later may succeed")


@strawberry.type(name="EmailTemplate",
                 description="An editable email with $module-field$ tags and Jinja2")
class EmailTemplateType:
    id: strawberry.ID
    key: str | None = strawberry.field(
        description="Set for system templates, e.g. ticket_comment_changed")
    name: str
    subject: str
    body: str
    send_to: list[TemplateRecipient]
    active: bool
    updated_at: datetime | None

    @classmethod
    def from_model(cls, m: models.EmailTemplate) -> EmailTemplateType:
        return cls(id=strawberry.ID(str(m.id)), key=m.key, name=m.name, subject=m.subject,
                   body=m.body, send_to=[TemplateRecipient(v) for v in m.send_to],
                   active=m.active, updated_at=getattr(m, "updated_at", None))


@strawberry.input(description="Template fields; on update, omitted fields keep their value")
class EmailTemplateInput:
    name: str | None = None
    subject: str | None = None
    body: str | None = None
    send_to: list[TemplateRecipient] | None = None
    active: bool | None = None


@strawberry.enum(description="A saved template that is allowed but probably wrong")
class TemplateWarningCode(Enum):
    MISSING_TICKET_NUMBER = "missing_ticket_number"
    MISSING_COMMENTS = "missing_comments"


@strawberry.type(description="Saved, but replies or readers may suffer: the message says how")
class TemplateWarning:
    code: TemplateWarningCode
    field: str = strawberry.field(description="The input field concerned, e.g. input.subject")
    message: str


@strawberry.type
class EmailTemplatePayload:
    email_template: EmailTemplateType
    warnings: list[TemplateWarning] = strawberry.field(default_factory=list)


@strawberry.type(name="TemplateTag", description="A $module-field$ tag a template may use")
class TemplateTagType:
    tag: str
    module: str
    module_label: str
    field: str
    label: str
    help: str

    @classmethod
    def from_tag(cls, t: TemplateTag) -> TemplateTagType:
        return cls(tag=t.tag, module=t.module, module_label=t.module_label, field=t.field,
                   label=t.label, help=t.help)


UpdateSmtpSettingsResult = Annotated[SmtpSettingsPayload | ValidationError,
                                     strawberry.union("UpdateSmtpSettingsResult")]
TestSmtpSettingsResult = Annotated[SmtpTestSuccess | SmtpTestFailure | ValidationError,
                                   strawberry.union("TestSmtpSettingsResult")]
EmailTemplateResult = Annotated[EmailTemplatePayload | ValidationError | NotFoundError,
                                strawberry.union("EmailTemplateResult")]
