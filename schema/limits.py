"""The documented bound of every input of the API, by schema coordinate.

`resolvers/input_guard.py` enforces these before any resolver runs (code TOO_LONG for text,
TOO_MANY for lists); the README lists them; `tests/schema/test_limits.py` fails when an
input of the schema has no entry here, so a new argument cannot ship unbounded. Where an
input is stored in a column, its bound is the column's own length, read from the model.

Coordinates follow the GraphQL spec's schema coordinates: `InputType.field` for input
fields, `Type.field(arg:)` for arguments.
"""
from __future__ import annotations

from tortoise.models import Model

from .. import models

ID_CHARS = 64  # every ID argument; ids are integers, so this is generous
JSON_STRING_CHARS = 8192  # each string inside a JSON value (rule values, action settings)
JSON_LIST_ITEMS = 1000  # each list inside a JSON value
RULE_TEXT_CHARS = 64 * 1024  # as rules_dsl's own limit
MAX_RULES_PER_SCANNER = 500
PAGE_SIZE = 100  # `first:` of every connection (schema/pagination.py)
MAX_UPLOAD_FILES = 10  # files per addComment; their total size is bounded by settings
FILENAME_CHARS = 255  # an uploaded file's name (ms_attachment.filename)
MAX_COMMENTS = 200  # comments of one ticket per request (Ticket.comments first:/last:)


def _column(model: type[Model], field: str) -> int:
    length = getattr(model._meta.fields_map[field], "max_length", None)
    assert isinstance(length, int), f"{model.__name__}.{field} has no max_length"
    return length


_TICKET_TEXT = {
    "title": _column(models.Ticket, "title"),
    "description": 100_000,
    "category": _column(models.Ticket, "category"),
}
_SMTP_TEXT = {
    "host": _column(models.SmtpSettings, "host"),
    "username": _column(models.SmtpSettings, "username"),
    "password": 1000,
    "senderAddress": _column(models.SmtpSettings, "sender_address"),
    "senderName": _column(models.SmtpSettings, "sender_name"),
}

# Characters of a String argument or input field.
TEXT: dict[str, int] = {
    **{f"CreateTicketInput.{k}": v for k, v in _TICKET_TEXT.items()},
    **{f"UpdateTicketInput.{k}": v for k, v in _TICKET_TEXT.items()},
    "TicketFilter.search": 200,
    "Query.tickets(after:)": 100,
    "Query.apiTokens(after:)": 100,
    "Query.ticket(number:)": _column(models.Ticket, "number"),
    "Mutation.addComment(body:)": 100_000,
    "ContactInput.name": _column(models.Contact, "name"),
    "ContactInput.email": _column(models.Contact, "email"),
    "ContactInput.phone": _column(models.Contact, "phone"),
    "Query.contacts(after:)": 100,
    "Query.contacts(search:)": 200,
    "Query.contacts(email:)": _column(models.Contact, "email"),
    "Query.contact(email:)": _column(models.Contact, "email"),
    "AccountInput.name": _column(models.Account, "name"),
    "AccountInput.domain": _column(models.Account, "domain"),
    "Query.accounts(after:)": 100,
    "Query.accounts(search:)": 200,
    "ScannerInput.name": _column(models.Scanner, "name"),
    "ScannerInput.host": _column(models.Scanner, "host"),
    "ScannerInput.username": _column(models.Scanner, "username"),
    "ScannerInput.password": 1000,
    "ScannerInput.mailboxName": _column(models.Scanner, "mailbox_name"),
    "ScannerInput.address": _column(models.Scanner, "address"),
    "Query.scanRuns(after:)": 100,
    "Query.messageLog(after:)": 100,
    "MessageLogFilter.folder": _column(models.MessageLog, "folder"),
    "MessageLogFilter.search": 200,
    "RuleInput.name": _column(models.Rule, "name"),
    "RuleInput.folders": _column(models.FolderState, "folder"),  # each folder name
    "RuleInput.conditionText": RULE_TEXT_CHARS,
    "Query.checkRule(conditionText:)": RULE_TEXT_CHARS,
    "Query.explainRule(conditionText:)": RULE_TEXT_CHARS,
    "Query.explainRule(rawEmail:)": 25 * 1024 * 1024,
    "Query.explainRule(folder:)": _column(models.FolderState, "folder"),
    "Query.dryRunScanner(conditionText:)": RULE_TEXT_CHARS,
    "Query.dryRunScanner(folder:)": _column(models.FolderState, "folder"),
    "ConditionInput.field": 100,
    "ConditionInput.header": 200,
    "ConditionInput.op": 50,
    "OAuthAppSettingsInput.clientId": _column(models.OAuthAppSettings, "client_id"),
    "OAuthAppSettingsInput.tenant": _column(models.OAuthAppSettings, "tenant"),
    "OAuthAppSettingsInput.clientSecret": 1000,
    "OAuthAppSettingsInput.authorityHost": _column(models.OAuthAppSettings, "authority_host"),
    "GoogleAppSettingsInput.clientId": _column(models.OAuthAppSettings, "client_id"),
    "GoogleAppSettingsInput.clientSecret": 1000,
    "Mutation.startGoogleAuthorization(loginHint:)": 320,
    **{f"SmtpSettingsInput.{k}": v for k, v in _SMTP_TEXT.items()},
    "EmailTemplateInput.name": _column(models.EmailTemplate, "name"),
    "EmailTemplateInput.subject": _column(models.EmailTemplate, "subject"),
    "EmailTemplateInput.body": 200_000,
}

# Items of a list argument or input field (a JSON list included).
ITEMS: dict[str, int] = {
    "TicketFilter.status": 10,
    "RuleInput.folders": 50,
    "RuleInput.actions": 20,
    "ConditionInput.and": 1000,
    "ConditionInput.or": 1000,
    "Mutation.reorderRules(ruleIds:)": MAX_RULES_PER_SCANNER,
    "Query.dryRunScanner(ruleIds:)": 100,
    "EmailTemplateInput.sendTo": 10,
    "Mutation.addComment(attachments:)": MAX_UPLOAD_FILES,
}
