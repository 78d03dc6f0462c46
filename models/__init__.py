"""Tortoise models. Every field a person sees carries its label and help (see fields.py)."""
from .account import Account
from .api_token import ApiToken
from .attachment import Attachment, SkippedReason
from .comment import Comment, CommentSource
from .contact import Contact, normalize_email
from .delivery_attempt import DeliveryAttempt
from .email_template import TICKET_COMMENT_TEMPLATE, EmailTemplate
from .fields import FieldInfo, LabelledEnum, describe_model
from .folder_state import FolderState
from .message_log import MessageLog, MessageOutcome, SideEffects
from .oauth_account import OAuthAccount, OAuthAccountStatus, OAuthProvider
from .oauth_app import OAuthAppSettings, OAuthFlow
from .outbound_email import DeliveryReason, DeliveryStatus, OutboundEmail
from .push_status import PushState, PushStatus
from .rule import Rule
from .scan_lease import ScanLease
from .scan_run import COUNT_NAMES, ScanRun, ScanRunStatus, empty_counts
from .scanner import (
    AuthType,
    Encryption,
    MicrosoftAuth,
    Protocol,
    Scanner,
    ScanType,
    StartFrom,
)
from .sequence import Sequence
from .smtp_settings import SmtpAuth, SmtpSettings
from .ticket import Ticket, TicketPriority, TicketStatus
from .user import Role, User

__all__ = [
    "Account", "ApiToken", "Attachment", "AuthType", "COUNT_NAMES", "Comment", "CommentSource",
    "Contact", "DeliveryAttempt", "DeliveryReason", "DeliveryStatus", "EmailTemplate",
    "Encryption", "FieldInfo", "FolderState", "LabelledEnum", "MessageLog", "MessageOutcome",
    "MicrosoftAuth",
    "OAuthAccount", "OAuthAccountStatus", "OAuthAppSettings", "OAuthFlow", "OAuthProvider",
    "OutboundEmail", "Protocol", "PushState", "PushStatus", "Role", "Rule", "ScanLease",
    "ScanRun", "ScanRunStatus", "ScanType", "Scanner", "Sequence", "SideEffects",
    "SkippedReason", "SmtpAuth", "SmtpSettings", "StartFrom", "TICKET_COMMENT_TEMPLATE",
    "Ticket", "TicketPriority", "TicketStatus", "User", "describe_model", "empty_counts",
    "normalize_email",
]
