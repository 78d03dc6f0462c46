"""Ticket.attachments and Comment.attachments: listed without N+1 queries."""
from __future__ import annotations

import logging

import pytest
from tortoise.transactions import in_transaction

from mailscanner.models import Attachment, Comment, SkippedReason, Ticket

from .conftest import Api

PAGE = """
{ tickets(first: 50) { edges { node {
    number
    attachments { filename skipped commentId downloadUrl }
    comments { attachments { filename inline contentId sha256 } }
} } } }"""


async def _seed(n: int) -> None:
    async with in_transaction() as conn:
        for i in range(n):
            ticket = await Ticket.create(number=f"TT{i + 1}", title=f"t{i}", using_db=conn)
            await Attachment.create(ticket=ticket, filename=f"first{i}.pdf", sha256="a" * 64,
                                    storage_key="a" * 64, using_db=conn)
            await Attachment.create(ticket=ticket, filename=f"huge{i}.iso", size=10**9,
                                    skipped_reason=SkippedReason.TOO_LARGE, using_db=conn)
            for j in range(2):
                comment = await Comment.create(ticket=ticket, body=f"c{j}", using_db=conn)
                await Attachment.create(ticket=ticket, comment=comment, filename=f"shot{j}.png",
                                        inline=True, content_id=f"shot{j}@x", sha256="b" * 64,
                                        storage_key="b" * 64, using_db=conn)


async def test_a_page_of_50_tickets_with_files_costs_a_handful_of_queries(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    # given
    await _seed(50)
    # when
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        data = await api.gql(PAGE, token="agent")
    # then
    queries = [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"
               and r.getMessage().lstrip().upper().startswith("SELECT")]
    nodes = [e["node"] for e in data["tickets"]["edges"]]
    last = nodes[-1]
    assert last["number"] == "TT1"
    assert [(f["filename"], f["skipped"], f["commentId"] is None) for f in last["attachments"]] \
        == [("first0.pdf", False, True), ("huge0.iso", True, True),
            ("shot0.png", False, False), ("shot1.png", False, False)]
    assert last["attachments"][0]["downloadUrl"].startswith("/attachments/")
    assert last["attachments"][1]["downloadUrl"] is None
    assert [c["attachments"] for c in last["comments"]] == [
        [{"filename": "shot0.png", "inline": True, "contentId": "shot0@x", "sha256": "b" * 64}],
        [{"filename": "shot1.png", "inline": True, "contentId": "shot1@x", "sha256": "b" * 64}]]
    # token, count, page, attachments by ticket, comments, attachments by comment
    assert len(queries) <= 8, "\n".join(queries)
