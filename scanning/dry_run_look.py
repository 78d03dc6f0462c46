"""The part of a dry run that reads the messages: what each one is and why each rule
matches it or not, worked out in a parse process (CPU work, kept off the event loop).

`look_chunk` runs in a worker (parse_pool.run_in_pool) on raw messages and returns plain
data: the headers a person recognises a message by, its kind (normal, auto_reply,
bounce ...) and, per condition, `rules_dsl.explain`'s tree, the same tree `explainRule`
shows for a pasted email. It never raises: a message it cannot explain gets the error text
instead (the pool contract: a raising function would be run again in the caller).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import rules_dsl
from ..mail.parsing import ParsedEmail, parse_email

__all__ = ["Look", "look_chunk"]


@dataclass(frozen=True)
class Look:
    """One message as a person sees it, and its conditions explained (None: not explained,
    see `error`)."""

    subject: str
    sender: str
    date: datetime | None
    kind: str
    kind_reason: str
    explanations: list[dict[str, Any] | None]
    draft: dict[str, Any] | None
    error: str | None = None


def _sender(email: ParsedEmail) -> str:
    if email.from_ is None:
        return ""
    address, name = email.from_.address, email.from_.name
    return f"{name} <{address}>" if name and address else address or name


Compiled = rules_dsl.CompiledRule | None


def _explain(compiled: Compiled, values: rules_dsl.ExtractedFields) -> Any:
    return rules_dsl.explain(compiled, values).to_dict() if compiled is not None else None


def _look(folder: str, conditions: list[Compiled], draft: Compiled, raw: bytes) -> Look:
    email = parse_email(raw).with_folder(folder)
    try:
        values = rules_dsl.extract(email)
        explained = [_explain(c, values) for c in conditions]
        return Look(
            email.subject,
            _sender(email),
            email.date,
            email.kind,
            email.kind_reason,
            explained,
            _explain(draft, values),
        )
    except Exception as exc:  # noqa: BLE001 — see the module docstring
        return Look(
            email.subject, _sender(email), email.date, "", "", [None] * len(conditions), None,
            f"{type(exc).__name__}: {exc}",
        )


def look_chunk(
    folder: str,
    conditions: list[dict[str, Any] | None],
    draft: dict[str, Any] | None,
    raws: list[bytes],
) -> list[Look]:
    """`Look` at every message of `raws` (run in a parse process): `conditions` are the
    rules' stored conditions in order (None for a broken rule), `draft` one to try."""
    compiled = [rules_dsl.compile(c) if c is not None else None for c in conditions]
    draft_compiled = rules_dsl.compile(draft) if draft is not None else None
    return [_look(folder, compiled, draft_compiled, raw) for raw in raws]
