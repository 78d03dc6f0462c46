"""Per-request DataLoaders (XByYLoader): one query per kind of related object per request."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from .. import models

M = TypeVar("M", bound=Model)


def _by_id(model: type[M]) -> DataLoader[int, M | None]:
    async def load(ids: Sequence[int]) -> list[M | None]:
        rows = {r.pk: r for r in await model.filter(id__in=list(ids))}
        return [rows.get(i) for i in ids]
    return DataLoader(load_fn=load)


def _many_by(model: type[M], key: str, order: Sequence[str]) -> DataLoader[int, list[M]]:
    async def load(ids: Sequence[int]) -> list[list[M]]:
        groups: dict[int, list[M]] = defaultdict(list)
        for row in await model.filter(**{f"{key}__in": list(ids)}).order_by(*order):
            groups[getattr(row, key)].append(row)
        return [groups.get(i, []) for i in ids]
    return DataLoader(load_fn=load)


async def _latest_outbound(comment_ids: Sequence[int]) -> list[models.OutboundEmail | None]:
    latest: dict[int, models.OutboundEmail] = {}
    for row in await models.OutboundEmail.filter(comment_id__in=list(comment_ids)).order_by("id"):
        latest[row.comment_id] = row  # type: ignore[attr-defined]
    return [latest.get(i) for i in comment_ids]


async def _push_status(scanner_ids: Sequence[int]) -> list[models.PushStatus | None]:
    rows = await models.PushStatus.filter(scanner_id__in=list(scanner_ids))
    found = {r.scanner_id: r for r in rows}  # type: ignore[attr-defined]
    return [found.get(i) for i in scanner_ids]


class Loaders:
    """Created fresh for each request, so cached rows never outlive it."""

    def __init__(self) -> None:
        self.user_by_id = _by_id(models.User)
        self.contact_by_id = _by_id(models.Contact)
        self.account_by_id = _by_id(models.Account)
        self.comments_by_ticket = _many_by(models.Comment, "ticket_id", ("id",))
        self.attachments_by_ticket = _many_by(models.Attachment, "ticket_id", ("id",))
        self.attachments_by_comment = _many_by(models.Attachment, "comment_id", ("id",))
        self.attempts_by_outbound = _many_by(
            models.DeliveryAttempt, "outbound_email_id", ("id",)
        )
        self.rules_by_scanner = _many_by(models.Rule, "scanner_id", ("sequence", "id"))
        self.outbound_by_comment: DataLoader[int, Any] = DataLoader(load_fn=_latest_outbound)
        self.push_status_by_scanner: DataLoader[int, models.PushStatus | None] = DataLoader(
            load_fn=_push_status
        )
