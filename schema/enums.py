"""GraphQL enums generated from the models' enums, so labels and values have one source."""
from __future__ import annotations

import strawberry

from ..models import (
    AuthType,
    CommentSource,
    DeliveryReason,
    DeliveryStatus,
    Encryption,
    MessageOutcome,
    MicrosoftAuth,
    OAuthAccountStatus,
    PushState,
    Role,
    ScanRunStatus,
    ScanType,
    SkippedReason,
    SmtpAuth,
    StartFrom,
    TicketPriority,
    TicketStatus,
)
from ..models.scanner import Protocol

RoleEnum = strawberry.enum(Role, name="Role")
TicketStatusEnum = strawberry.enum(TicketStatus, name="TicketStatus")
TicketPriorityEnum = strawberry.enum(TicketPriority, name="TicketPriority")
CommentSourceEnum = strawberry.enum(CommentSource, name="CommentSource")
AuthTypeEnum = strawberry.enum(AuthType, name="AuthType")
ProtocolEnum = strawberry.enum(Protocol, name="MailProtocol")
EncryptionEnum = strawberry.enum(Encryption, name="Encryption")
ScanTypeEnum = strawberry.enum(ScanType, name="ScanType")
StartFromEnum = strawberry.enum(StartFrom, name="StartFrom")
ScanRunStatusEnum = strawberry.enum(ScanRunStatus, name="ScanRunStatus")
MessageOutcomeEnum = strawberry.enum(MessageOutcome, name="MessageOutcome")
DeliveryStatusEnum = strawberry.enum(DeliveryStatus, name="DeliveryStatus")
DeliveryReasonEnum = strawberry.enum(DeliveryReason, name="DeliveryReason")
SmtpAuthEnum = strawberry.enum(SmtpAuth, name="SmtpAuth")
OAuthAccountStatusEnum = strawberry.enum(OAuthAccountStatus, name="OAuthAccountStatus")
PushStateEnum = strawberry.enum(PushState, name="PushState")
MicrosoftAuthEnum = strawberry.enum(MicrosoftAuth, name="MicrosoftAuth")
SkippedReasonEnum = strawberry.enum(SkippedReason, name="AttachmentSkippedReason")
