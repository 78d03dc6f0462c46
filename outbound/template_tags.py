"""`$module-field$` tags for email templates, taken from the models' field metadata.

Modules: `helpdesk-` (the ticket), `contacts-` (its contact), `accounts-` (its account) and
`users-` (the user who commented). Each labelled model field is a tag (`describe_model`), plus
three specials on the ticket: `$helpdesk-ticket_no$`, `$helpdesk-comments$` (public comments,
newest first) and `$helpdesk-replyabove$` (the marker line the scanner cuts replies at).
"""
from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from typing import Any

from tortoise.models import Model

from ..models.account import Account
from ..models.contact import Contact
from ..models.fields import describe_model
from ..models.ticket import Ticket
from ..models.user import User

__all__ = ["MODULES", "TAG_PATTERN", "TemplateTag", "find_tags", "list_template_tags",
           "tag_values", "unknown_tags"]

# A tag is `$` module `-` field `$`; anything else with dollars (prices, "$5-10$") is text
# unless its module is one of ours, in which case an unknown field is reported.
TAG_PATTERN = re.compile(r"\$([a-z]+)-([a-z][a-z0-9_]*)\$")

MODULES: dict[str, tuple[type[Model], str]] = {
    "helpdesk": (Ticket, "Ticket"),
    "contacts": (Contact, "Contact"),
    "accounts": (Account, "Account"),
    "users": (User, "Commenting user"),
}

COMMENTS_TAG = "helpdesk-comments"
REPLYABOVE_TAG = "helpdesk-replyabove"
TICKET_NO_TAG = "helpdesk-ticket_no"

_SPECIAL: dict[str, tuple[str, str]] = {
    TICKET_NO_TAG: ("Ticket number", "The ticket number, e.g. TT123; keep it in the subject"),
    COMMENTS_TAG: ("Comments", "The ticket's public comments, newest first, with author and time"),
    REPLYABOVE_TAG: ("Reply above this line",
                     "The marker line; the scanner keeps only what the customer writes above it"),
}


@dataclass(frozen=True)
class TemplateTag:
    """One usable tag, for the template editor's tag list."""

    tag: str          # "$helpdesk-ticket_no$"
    module: str       # "helpdesk"
    module_label: str  # "Ticket"
    field: str        # "ticket_no"
    label: str
    help: str


def list_template_tags() -> list[TemplateTag]:
    """Every tag a template may use, grouped by module, specials first."""
    tags: list[TemplateTag] = []
    for key, (label, help_text) in _SPECIAL.items():
        field = key.split("-", 1)[1]
        tags.append(TemplateTag(f"${key}$", "helpdesk", "Ticket", field, label, help_text))
    for module, (model, module_label) in MODULES.items():
        for info in describe_model(model):
            tags.append(TemplateTag(f"${module}-{info.name}$", module, module_label, info.name,
                                    info.label, info.help))
    return tags


_KNOWN = {t.tag.strip("$") for t in list_template_tags()}


def find_tags(text: str) -> list[str]:
    """Tag keys ("helpdesk-title") used in `text`, in order, only for our modules."""
    return [m.group(0).strip("$") for m in TAG_PATTERN.finditer(text) if m.group(1) in MODULES]


def unknown_tags(text: str) -> list[str]:
    """Tags in `text` whose module is ours but whose field is not, e.g. ["$helpdesk-nope$"]."""
    seen: list[str] = []
    for key in find_tags(text):
        if key not in _KNOWN and f"${key}$" not in seen:
            seen.append(f"${key}$")
    return seen


def format_value(value: Any) -> str:
    """How a field value reads in an email: labels for choices, names for links, UTC times."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(getattr(value, "label", value.value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return str(value.strftime("%Y-%m-%d %H:%M UTC"))
    if isinstance(value, Model):
        return str(value)
    if isinstance(value, (str, int, float, dt.date)):
        return str(value)
    return ""  # an unfetched relation or a JSON blob never leaks into a customer's mail


def tag_values(module: str, obj: Model | None) -> dict[str, str]:
    """`{"helpdesk-title": "Printer on fire", ...}` for one object (all "" when it is None).

    Relations must be fetched beforehand (`fetch_related`); unfetched ones render empty.
    """
    model, _ = MODULES[module]
    out: dict[str, str] = {}
    for info in describe_model(model):
        value = getattr(obj, info.name, None) if obj is not None else None
        out[f"{module}-{info.name}"] = format_value(value)
    return out
