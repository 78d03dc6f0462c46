"""One message seen in two scanned folders is processed once.

Where a server keeps folders as labels (Gmail), a mail in INBOX is also in "[Gmail]/All
Mail" and in every label it carries; elsewhere a mail can be copied into a second folder.
Scanning both must not make two tickets, run a move twice or count it twice.

How a message is recognised, in this order:
  1. the server's own id across folders, where the server has one (Gmail's X-GM-MSGID,
     fetched with the body when the server announces X-GM-EXT-1): exact;
  2. otherwise its Message-ID header (two copies of one mail share it; a mail without one
     is never treated as a duplicate).
Per fetch batch, one query asks which of the batch's keys already have a log row of this
scanner in ANOTHER folder (none at all when the scanner never logged mail from another
folder, the common one-folder case); such a message gets a SKIPPED row of its own ("processed in
<folder>"), is marked read, and no rule acts on it. The first folder to see a message wins,
so the scanner's rule order over folders decides which rules handle it.

The keys are known at two moments: server ids with the fetch, Message-IDs only once the
message is parsed (in the parse processes). So the pipeline asks after preparing the batch
and marks the prepared items (`mark_duplicates`); the same answer travels in the batch
(`FetchBatch.elsewhere`) so that the slower paths, which examine messages again, decide
alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from ..models import MessageLog, MessageOutcome, SideEffects

__all__ = ["as_duplicate", "dedupe_key", "duplicate_fields", "has_other_folders",
           "processed_elsewhere"]


def dedupe_key(server_id: str | None, message_id: str | None) -> str | None:
    """The key a message is recognised by in other folders (None: never a duplicate)."""
    if server_id:
        return f"server:{server_id}"
    return f"mid:{message_id}" if message_id else None


def duplicate_fields(folder: str) -> dict[str, Any]:
    """The log row values of a message already processed from `folder`."""
    return {
        "outcome": MessageOutcome.SKIPPED,
        "reason": f"the same message was processed in {folder}",
        "side_effects": SideEffects.PENDING,
        "pending_effects": [{"op": "seen"}],
    }


_IDENTITY = ("scanner_id", "scan_run_id", "folder", "uidvalidity", "uid", "server_message_id",
             "message_id", "subject", "sender")


def as_duplicate(fields: Mapping[str, Any], folder: str) -> dict[str, Any]:
    """A message's log row values turned into those of a duplicate of one in `folder`."""
    return {**{k: fields[k] for k in _IDENTITY if k in fields}, **duplicate_fields(folder)}


def skip_counts() -> Counter[str]:
    return Counter(skipped=1)


async def has_other_folders(scanner_id: int, folder: str) -> bool:
    """Has this scanner logged mail from any other folder? (If not, nothing to look up.)"""
    return await MessageLog.filter(scanner_id=scanner_id).exclude(folder=folder).exists()


async def processed_elsewhere(
    scanner_id: int, folder: str, keys: Iterable[str]
) -> Mapping[str, str]:
    """Which of `keys` this scanner already logged in another folder: key -> that folder."""
    server_ids = {k.removeprefix("server:") for k in keys if k.startswith("server:")}
    message_ids = {k.removeprefix("mid:") for k in keys if k.startswith("mid:")}
    found: dict[str, str] = {}
    base = MessageLog.filter(scanner_id=scanner_id).exclude(folder=folder)
    if server_ids:
        rows = await base.filter(server_message_id__in=server_ids).values_list(
            "server_message_id", "folder"
        )
        found.update((f"server:{sid}", str(where)) for sid, where in rows)
    if message_ids:
        # Only rows without a server id: with one, the server id is what identifies them.
        rows = await base.filter(message_id__in=message_ids, server_message_id=None).values_list(
            "message_id", "folder"
        )
        found.update((f"mid:{mid}", str(where)) for mid, where in rows)
    return found
