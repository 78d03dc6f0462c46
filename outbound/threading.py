"""Our own Message-IDs: they name the ticket, so a reply finds its ticket even when the
customer edited the subject (In-Reply-To/References carry them back to us)."""
from __future__ import annotations

import re
import secrets

_OURS = re.compile(
    r"^<?(?P<number>[A-Za-z]{1,8}\d+)\.[A-Za-z0-9]+\.[A-Za-z0-9]+@(?P<domain>[^>\s]+)>?$"
)


def make_message_id(ticket_number: str, kind: str, domain: str) -> str:
    """`<TT12.c34.k2x9q@helpdesk.example>`: ticket, what we sent (c<comment id>), random part."""
    return f"<{ticket_number}.{kind}.{secrets.token_hex(6)}@{domain}>"


def ticket_number_from_message_id(message_id: str, domain: str) -> str | None:
    """The ticket number in one of our Message-IDs, or None if the id is not ours."""
    m = _OURS.match(message_id.strip())
    if m is None or m.group("domain").lower() != domain.lower():
        return None
    return m.group("number").upper()


def is_our_message_id(message_id: str, domain: str) -> bool:
    return message_id.strip().strip("<>").lower().endswith("@" + domain.lower())
