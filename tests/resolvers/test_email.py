"""GraphQL: SMTP settings (write-only password, sender warning, connection test), templates, tags,
and a comment's email delivery."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mailscanner import models
from mailscanner.outbound.templates import ensure_default_templates

from ..fixtures.smtp import SmtpTestServer
from .conftest import Api

SMTP_SETTINGS = """
query { smtpSettings { host port effectivePort security auth username hasPassword
                       senderAddress senderName validateCertificate } }
"""

UPDATE_SMTP = """
mutation($input: SmtpSettingsInput!) {
  updateSmtpSettings(input: $input) {
    __typename
    ... on SmtpSettingsPayload { smtpSettings { host hasPassword senderAddress }
                                 warnings { code message } }
    ... on ValidationError { errors { field code message } }
  }
}
"""

TEST_SMTP = """
mutation($input: SmtpSettingsInput) {
  testSmtpSettings(input: $input) {
    __typename
    ... on SmtpTestSuccess { message }
    ... on SmtpTestFailure { code message temporary }
    ... on ValidationError { errors { field code } }
  }
}
"""

TEMPLATES = "query { emailTemplates { id key name subject body sendTo active } }"

CREATE_TEMPLATE = """
mutation($input: EmailTemplateInput!) {
  createEmailTemplate(input: $input) {
    __typename
    ... on EmailTemplatePayload { emailTemplate { id name sendTo } }
    ... on ValidationError { errors { field code message line } }
  }
}
"""

UPDATE_TEMPLATE = """
mutation($id: ID!, $input: EmailTemplateInput!) {
  updateEmailTemplate(id: $id, input: $input) {
    __typename
    ... on EmailTemplatePayload { emailTemplate { id subject sendTo } }
    ... on ValidationError { errors { field code message } }
    ... on NotFoundError { message }
  }
}
"""

TAGS = "query { templateTags { tag module moduleLabel field label help } }"


def _smtp_input(server: SmtpTestServer, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": server.port, "security": "STARTTLS",
            "validateCertificate": False, "auth": "PASSWORD", "username": server.user,
            "password": server.password, "senderAddress": "support@example.com",
            "senderName": "Acme Support", **extra}


async def test_password_is_write_only_and_encrypted(api: Api, smtp_server: SmtpTestServer) -> None:
    # given
    before = await api.gql(SMTP_SETTINGS)
    assert before["smtpSettings"]["hasPassword"] is False
    # when
    data = await api.gql(UPDATE_SMTP, {"input": _smtp_input(smtp_server)})
    # then
    assert data["updateSmtpSettings"]["__typename"] == "SmtpSettingsPayload"
    after = (await api.gql(SMTP_SETTINGS))["smtpSettings"]
    assert after["hasPassword"] is True and after["security"] == "STARTTLS"
    row = await models.SmtpSettings.get()
    assert row.password_encrypted and smtp_server.password not in row.password_encrypted
    assert row.get_password() == smtp_server.password


async def test_saving_warns_when_no_active_scanner_reads_the_sender(
        api: Api, smtp_server: SmtpTestServer) -> None:
    data = await api.gql(UPDATE_SMTP, {"input": _smtp_input(smtp_server)})
    [warning] = data["updateSmtpSettings"]["warnings"]
    assert warning["code"] == "SENDER_NOT_SCANNED" and "support@example.com" in warning["message"]


async def test_the_sender_warning_clears_for_a_scanner_receiving_for_the_sender_address(
        api: Api, smtp_server: SmtpTestServer) -> None:
    # given an active scanner whose IMAP login is not an email address
    scanner = models.Scanner(name="Desk", host="imap.example.com", username="helpdesk01",
                             active=True)
    await scanner.save()
    data = await api.gql(UPDATE_SMTP, {"input": _smtp_input(smtp_server)})
    assert [w["code"] for w in data["updateSmtpSettings"]["warnings"]] == ["SENDER_NOT_SCANNED"]
    # when its receiving address is set explicitly (or as its mailbox name), the warning clears
    for field in ("address", "mailbox_name"):
        values: dict[str, Any] = {"address": None, "mailbox_name": None}
        await models.Scanner.filter(id=scanner.id).update(
            **{**values, field: "Support@Example.com"})
        data = await api.gql(UPDATE_SMTP, {"input": _smtp_input(smtp_server)})
        assert data["updateSmtpSettings"]["warnings"] == [], field
    # an active scanner reading that mailbox clears the warning
    await models.Scanner.create(name="Support", host="imap.example.com", active=True,
                                username="Support@Example.com")
    data = await api.gql(UPDATE_SMTP, {"input": {"senderName": "Acme"}})
    assert data["updateSmtpSettings"]["warnings"] == []


async def test_invalid_settings_are_rejected_per_field(api: Api) -> None:
    data = await api.gql(UPDATE_SMTP, {"input": {"host": "smtp://bad host", "port": 70000,
                                                 "senderAddress": "not-an-address"}})
    result = data["updateSmtpSettings"]
    assert result["__typename"] == "ValidationError"
    fields = {e["field"]: e["code"] for e in result["errors"]}
    assert fields["input.host"] == "INVALID_HOST" and fields["input.port"] == "INVALID_PORT"
    assert fields["input.senderAddress"] == "INVALID_EMAIL"
    assert await models.SmtpSettings.all().count() == 0


async def test_connection_test_succeeds_and_reports_a_bad_password(
        api: Api, smtp_server: SmtpTestServer) -> None:
    await api.gql(UPDATE_SMTP, {"input": _smtp_input(smtp_server)})
    ok = (await api.gql(TEST_SMTP))["testSmtpSettings"]
    assert ok["__typename"] == "SmtpTestSuccess" and "logged in" in ok["message"]

    bad = (await api.gql(TEST_SMTP, {"input": {"password": "wrong"}}))["testSmtpSettings"]
    assert bad["__typename"] == "SmtpTestFailure" and bad["code"] == "AUTH_FAILED"
    assert "rejected the login" in bad["message"] and bad["temporary"] is False
    # testing with an unsaved password does not save it
    assert (await models.SmtpSettings.get()).get_password() == smtp_server.password
    assert smtp_server.received() == []


async def test_settings_are_admin_only(api: Api) -> None:
    response = await api.post(SMTP_SETTINGS, token="agent")
    assert response.json()["errors"][0]["message"] == "Only administrators may do this"


async def test_default_template_is_listed(api: Api) -> None:
    await ensure_default_templates()
    [template] = (await api.gql(TEMPLATES))["emailTemplates"]
    assert template["key"] == "ticket_comment_changed"
    assert template["name"] == "Ticket comment changed"
    assert template["body"].splitlines()[0] == "$helpdesk-replyabove$"
    assert template["sendTo"] == ["CONTACT_EMAIL"]


async def test_unknown_tag_is_a_validation_error_naming_it(api: Api) -> None:
    data = await api.gql(CREATE_TEMPLATE, {"input": {
        "name": "Closed", "subject": "[$helpdesk-ticket_no$] closed",
        "body": "Hi $contacts-frist_name$"}})
    result = data["createEmailTemplate"]
    assert result["__typename"] == "ValidationError"
    [error] = result["errors"]
    assert error["field"] == "input.body" and error["code"] == "INVALID_TEMPLATE"
    assert "$contacts-frist_name$" in error["message"]


async def test_create_and_update_a_template(api: Api) -> None:
    created = (await api.gql(CREATE_TEMPLATE, {"input": {
        "name": "Closed", "subject": "[$helpdesk-ticket_no$] closed",
        "body": "{% if true %}Bye $contacts-name${% endif %}",
        "sendTo": ["CONTACT_EMAIL", "ASSIGNEE_EMAIL"]}}))["createEmailTemplate"]
    assert created["__typename"] == "EmailTemplatePayload"
    assert created["emailTemplate"]["sendTo"] == ["CONTACT_EMAIL", "ASSIGNEE_EMAIL"]
    template_id = created["emailTemplate"]["id"]

    updated = (await api.gql(UPDATE_TEMPLATE, {"id": template_id, "input": {
        "subject": "Done: $helpdesk-title$"}}))["updateEmailTemplate"]
    assert updated["emailTemplate"]["subject"] == "Done: $helpdesk-title$"

    broken = (await api.gql(UPDATE_TEMPLATE, {"id": template_id, "input": {
        "body": "{% for x in %}"}}))["updateEmailTemplate"]
    assert broken["__typename"] == "ValidationError"
    missing = (await api.gql(UPDATE_TEMPLATE, {"id": "999", "input": {}}))["updateEmailTemplate"]
    assert missing["__typename"] == "NotFoundError"


async def test_agents_can_list_template_tags(api: Api) -> None:
    tags = {t["tag"]: t for t in (await api.gql(TAGS, token="agent"))["templateTags"]}
    assert tags["$helpdesk-ticket_no$"]["moduleLabel"] == "Ticket"
    assert tags["$contacts-email$"]["label"] == "Email"
    assert "$helpdesk-comments$" in tags and "$users-name$" in tags


ADD_COMMENT = """
mutation($ticketId: ID!, $body: String!, $internal: Boolean!) {
  addComment(ticketId: $ticketId, body: $body, internal: $internal) {
    __typename
    ... on CommentPayload { comment { id delivery { status recipients attempts } } }
  }
}
"""

TICKET_COMMENTS = """
query($id: ID!) { ticket(id: $id) { comments { body delivery {
  status attempts sentAt lastError } } } }
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


async def test_add_comment_emails_the_customer_and_shows_delivery(
        api: Api, smtp_server: SmtpTestServer, job_queue: Any) -> None:
    # given
    await api.gql(UPDATE_SMTP, {"input": _smtp_input(smtp_server)})
    contact = await models.Contact.create(name="Eve", email="eve@example.com")
    ticket = await models.Ticket.create(number="TT3", title="Help", contact=contact)
    # when
    data = await api.gql(ADD_COMMENT, {"ticketId": str(ticket.id), "body": "On it",
                                       "internal": False}, token="agent")
    internal = await api.gql(ADD_COMMENT, {"ticketId": str(ticket.id), "body": "secret",
                                           "internal": True}, token="agent")
    await job_queue.join()
    # then
    delivery = data["addComment"]["comment"]["delivery"]
    assert delivery["status"] == "QUEUED" and delivery["recipients"] == ["Eve <eve@example.com>"]
    assert internal["addComment"]["comment"]["delivery"] is None
    [mail] = await smtp_server.wait_for(1)
    assert mail.message["Subject"] == "[TT3] Help" and "secret" not in mail.data.decode()
    result = await api.gql(TICKET_COMMENTS, {"id": str(ticket.id)}, token="agent")
    states = {c["body"]: c["delivery"] for c in result["ticket"]["comments"]}
    assert states["On it"]["status"] == "SENT" and states["On it"]["sentAt"]
    assert states["secret"] is None
