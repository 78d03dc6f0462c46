from __future__ import annotations

import logging

import pytest
from tortoise.transactions import in_transaction

from mailscanner.models import Account, Comment, Contact, Ticket, User

from .conftest import Api

PAGE = """
{ tickets(first: 100) {
    totalCount
    edges { node {
      number
      contact { email account { name } }
      account { name }
      assignee { name }
      comments(last: 2) { body authorUser { name } authorContact { email } delivery { status } }
    } }
} }"""


async def _seed(n: int) -> None:
    agent = await User.create(name="Agent", role="agent")
    async with in_transaction() as conn:
        for i in range(n):
            account = await Account.create(name=f"Org {i}", domain=f"org{i}.test", using_db=conn)
            contact = await Contact.create(name=f"C{i}", email=f"c{i}@org{i}.test", account=account,
                                           using_db=conn)
            ticket = await Ticket.create(number=f"TT{i + 1}", title=f"t{i}", contact=contact,
                                         account=account, assignee=agent, using_db=conn)
            for j in range(3):
                await Comment.create(ticket=ticket, body=f"c{j}", using_db=conn,
                                     author_user=agent if j % 2 else None,
                                     author_contact=None if j % 2 else contact)


async def test_a_page_of_100_tickets_with_relations_costs_a_handful_of_queries(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    # given
    await _seed(100)
    # when
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        data = await api.gql(PAGE, token="agent")
    # then
    queries = [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"
               and r.getMessage().lstrip().upper().startswith(("SELECT", "UPDATE"))]
    nodes = [e["node"] for e in data["tickets"]["edges"]]
    assert len(nodes) == 100
    assert nodes[-1]["contact"]["account"]["name"] == "Org 0"
    assert [c["body"] for c in nodes[-1]["comments"]] == ["c1", "c2"]
    assert nodes[-1]["comments"][0]["authorUser"] == {"name": "Agent"}
    # token lookup, count, page, contacts, accounts, users, comments, outbound (+ last_used update)
    assert 5 <= len(queries) <= 10, "\n".join(queries)
