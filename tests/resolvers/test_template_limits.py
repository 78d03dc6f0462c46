"""Email templates under hard limits (issue 13 items 1 and 6): a hostile template is refused
when saved, one stored anyway fails its delivery without losing the comment, the API keeps
answering while one renders, and a normal template still reaches the customer."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mailscanner import models
from mailscanner.outbound.templates import ensure_default_templates

from ..fixtures.smtp import SmtpTestServer
from .conftest import Api

NESTED_LOOPS = "{% for i in range(20000) %}{% for j in range(20000) %}{% endfor %}{% endfor %}"
BIG_ARITHMETIC = "{% set x = (((9**64)**64)**64)**64 %}{{ x > 1 }}"
STRING_DOUBLING = ("{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}"
                   "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}")
RECURSIVE_MACRO = "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"

CREATE_TEMPLATE = """
mutation($input: EmailTemplateInput!) {
  createEmailTemplate(input: $input) {
    __typename
    ... on EmailTemplatePayload { emailTemplate { id } }
    ... on ValidationError { errors { field code message } }
  }
}
"""

UPDATE_TEMPLATE = """
mutation($id: ID!, $input: EmailTemplateInput!) {
  updateEmailTemplate(id: $id, input: $input) {
    __typename
    ... on EmailTemplatePayload { emailTemplate { id subject body }
                                  warnings { code field message } }
    ... on ValidationError { errors { field code message } }
  }
}
"""

ADD_COMMENT = """
mutation($ticketId: ID!, $body: String!) {
  addComment(ticketId: $ticketId, body: $body) {
    __typename
    ... on CommentPayload { comment { id body delivery { status reason lastError } } }
  }
}
"""

TICKET_COMMENTS = """
query($id: ID!) { ticket(id: $id) { comments { body delivery { status reason lastError } } } }
"""

SMTP = """
mutation($input: SmtpSettingsInput!) {
  updateSmtpSettings(input: $input) { __typename }
}
"""


@pytest.fixture
async def job_queue(db: object) -> AsyncIterator[Any]:
    from mailscanner.workers.config import JobsConfig
    from mailscanner.workers.inprocess import InProcessQueue
    from mailscanner.workers.queue import set_queue
    from mailscanner.workers.settings import build_functions

    queue = InProcessQueue(build_functions(JobsConfig()))
    set_queue(queue)
    yield queue
    set_queue(None)
    await queue.close()


async def _comment_template() -> models.EmailTemplate:
    await ensure_default_templates()
    return await models.EmailTemplate.get(key=models.TICKET_COMMENT_TEMPLATE)


@pytest.mark.parametrize(("body", "limit"), [
    (NESTED_LOOPS, "time"),
    (BIG_ARITHMETIC, "time"),
    (STRING_DOUBLING, "memory"),
    (RECURSIVE_MACRO, "recursion"),
])
async def test_a_hostile_template_is_refused_when_saved_naming_the_limit(
        api: Api, body: str, limit: str) -> None:
    template = await _comment_template()
    # when
    updated = (await api.gql(UPDATE_TEMPLATE, {"id": str(template.id),
                                               "input": {"body": body}}))["updateEmailTemplate"]
    created = (await api.gql(CREATE_TEMPLATE, {"input": {
        "name": "Hostile", "subject": "[$helpdesk-ticket_no$] x", "body": body}})
    )["createEmailTemplate"]
    # then
    for result in (updated, created):
        assert result["__typename"] == "ValidationError"
        [error] = result["errors"]
        assert error["field"] == "input.body" and error["code"] == "TEMPLATE_LIMIT"
        assert f"exceeds the {limit}" in error["message"]
    stored = await models.EmailTemplate.get(id=template.id)
    assert stored.body == template.body  # nothing saved
    assert not await models.EmailTemplate.filter(name="Hostile").exists()


async def test_a_hostile_subject_is_blamed_on_the_subject(api: Api) -> None:
    template = await _comment_template()
    result = (await api.gql(UPDATE_TEMPLATE, {"id": str(template.id), "input": {
        "subject": "$helpdesk-ticket_no$ " + RECURSIVE_MACRO}}))["updateEmailTemplate"]
    assert result["__typename"] == "ValidationError"
    assert [(e["field"], e["code"]) for e in result["errors"]] == [
        ("input.subject", "TEMPLATE_LIMIT")]


async def test_the_api_answers_healthz_while_a_hostile_template_renders(api: Api) -> None:
    template = await _comment_template()
    saving = asyncio.ensure_future(api.post(
        UPDATE_TEMPLATE, {"id": str(template.id), "input": {"body": NESTED_LOOPS}}))
    health = asyncio.ensure_future(api.client.get("/healthz"))
    done, _ = await asyncio.wait({saving, health}, return_when=asyncio.FIRST_COMPLETED)
    # then: /healthz came back while the render was still going on
    assert health in done and saving not in done
    assert health.result().json() == {"status": "ok"}
    response = await saving
    assert response.json()["data"]["updateEmailTemplate"]["__typename"] == "ValidationError"


async def test_saving_the_comment_template_without_its_tags_warns(api: Api) -> None:
    template = await _comment_template()
    result = (await api.gql(UPDATE_TEMPLATE, {"id": str(template.id), "input": {
        "subject": "News about your request", "body": "$helpdesk-replyabove$\nHello!"}})
    )["updateEmailTemplate"]
    assert result["__typename"] == "EmailTemplatePayload"
    assert result["emailTemplate"]["subject"] == "News about your request"  # saved
    codes = {(w["code"], w["field"]) for w in result["warnings"]}
    assert codes == {("MISSING_TICKET_NUMBER", "input.subject"),
                     ("MISSING_COMMENTS", "input.body")}
    fixed = (await api.gql(UPDATE_TEMPLATE, {"id": str(template.id), "input": {
        "subject": "[$helpdesk-ticket_no$] News", "body": "$helpdesk-comments$"}})
    )["updateEmailTemplate"]
    assert fixed["warnings"] == []


@pytest.mark.parametrize(("body", "limit"), [(NESTED_LOOPS, "time"),
                                             (RECURSIVE_MACRO, "recursion")])
async def test_a_hostile_template_stored_anyway_fails_the_delivery_not_the_comment(
        api: Api, job_queue: Any, body: str, limit: str) -> None:
    # given: a hostile template written to the database directly (older version, SQL)
    template = await _comment_template()
    template.body = "$helpdesk-comments$" + body
    await template.save()
    contact = await models.Contact.create(name="Eve", email="eve@example.com")
    ticket = await models.Ticket.create(number="TT5", title="Help", contact=contact)
    # when
    data = await api.gql(ADD_COMMENT, {"ticketId": str(ticket.id), "body": "On it"},
                         token="agent")
    await job_queue.join()
    # then: the comment is saved, its delivery failed and says why
    comment = data["addComment"]["comment"]
    assert comment["body"] == "On it"
    assert comment["delivery"]["status"] == "FAILED"
    assert comment["delivery"]["reason"] == "TEMPLATE_LIMIT"
    assert f"exceeds the {limit}" in comment["delivery"]["lastError"]
    # and a later comment is saved too, and so is its failure
    again = await api.gql(ADD_COMMENT, {"ticketId": str(ticket.id), "body": "Still on it"},
                          token="agent")
    assert again["addComment"]["comment"]["delivery"]["reason"] == "TEMPLATE_LIMIT"
    listed = await api.gql(TICKET_COMMENTS, {"id": str(ticket.id)}, token="agent")
    assert {c["body"] for c in listed["ticket"]["comments"]} == {"On it", "Still on it"}
    assert await models.OutboundEmail.filter(status=models.DeliveryStatus.SENT).count() == 0


async def test_requests_that_use_the_database_are_answered_while_a_comment_renders(
        api: Api, job_queue: Any) -> None:
    # given: a hostile template stored directly, and a ticket with a contact
    template = await _comment_template()
    template.body = NESTED_LOOPS
    await template.save()
    contact = await models.Contact.create(name="Eve", email="eve@example.com")
    ticket = await models.Ticket.create(number="TT9", title="Help", contact=contact)
    commenting = asyncio.ensure_future(api.gql(
        ADD_COMMENT, {"ticketId": str(ticket.id), "body": "On it"}, token="agent"))
    # when: the database is asked, again and again, while the comment's email renders
    for _ in range(5):
        listed = await api.gql("{ tickets { totalCount } }", token="agent")
        assert listed["tickets"]["totalCount"] == 1
    # then: all those answers came first (no transaction, and on SQLite no lock, was held
    # while the template rendered)
    assert not commenting.done()
    delivery = (await commenting)["addComment"]["comment"]["delivery"]
    assert delivery["reason"] == "TEMPLATE_LIMIT"


async def test_a_comment_on_a_ticket_without_contact_says_no_recipient(api: Api) -> None:
    ticket = await models.Ticket.create(number="TT6", title="Walk-in")
    data = await api.gql(ADD_COMMENT, {"ticketId": str(ticket.id), "body": "Noted"},
                         token="agent")
    delivery = data["addComment"]["comment"]["delivery"]
    assert delivery["status"] == "FAILED" and delivery["reason"] == "NO_RECIPIENT"
    assert "no contact" in delivery["lastError"]


async def test_a_normal_template_reaches_the_customer_rendered(
        api: Api, smtp_server: SmtpTestServer, job_queue: Any) -> None:
    # given
    await api.gql(SMTP, {"input": {
        "host": "127.0.0.1", "port": smtp_server.port, "security": "STARTTLS",
        "validateCertificate": False, "auth": "PASSWORD", "username": smtp_server.user,
        "password": smtp_server.password, "senderAddress": "support@example.com"}})
    template = await _comment_template()
    saved = (await api.gql(UPDATE_TEMPLATE, {"id": str(template.id), "input": {
        "subject": "[$helpdesk-ticket_no$] $helpdesk-title$ ({{ comments|length }} replies)",
        "body": "$helpdesk-replyabove$\nDear $contacts-name$,\n"
                "{% for c in comments %}* {{ c.author }}: {{ c.body|upper }}\n{% endfor %}"}})
    )["updateEmailTemplate"]
    assert saved["__typename"] == "EmailTemplatePayload"
    contact = await models.Contact.create(name="Eve", email="eve@example.com")
    ticket = await models.Ticket.create(number="TT8", title="Toner", contact=contact)
    # when
    await api.gql(ADD_COMMENT, {"ticketId": str(ticket.id), "body": "replaced it"},
                  token="agent")
    await job_queue.join()
    # then
    [mail] = await smtp_server.wait_for(1)
    assert mail.message["Subject"] == "[TT8] Toner (1 replies)"
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Dear Eve," in text and "* Aldo Agent: REPLACED IT" in text
