"""An admin's view of a real scenario: /metrics and the JSON logs after a scan, a comment
email and a failed login (real Dovecot, aiosmtpd, the database of MAILSCANNER_TEST_DB).

The scenario goes through the API as a user would: `runScanner` queues the scan job,
`addComment` queues the send job, `testScannerConnection` tries a wrong password. Metrics
are process-wide, so the test compares a scrape before with one after.
"""
from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mailscanner.app import create_app
from mailscanner.models import Role, Ticket
from mailscanner.ops import collectors
from mailscanner.ops.logs import CONTEXT_FIELDS, JsonFormatter
from mailscanner.resolvers.auth import create_token
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.depth import sample
from mailscanner.workers.inprocess import InProcessQueue
from mailscanner.workers.lock import InProcessLocks
from mailscanner.workers.queue import set_queue
from mailscanner.workers.settings import build_functions

from ..fixtures.dovecot import ImapUser
from ..fixtures.smtp import SmtpTestServer, save_smtp_settings
from ..ops.metrics_text import delta, parse, value
from ..scanning.helpers import add_rule, mail, make_scanner

pytestmark = pytest.mark.integration

BODY = "The invoice 7731-ZETA for the blue printer is wrong, please correct it."
COMMENT = "We corrected invoice QUUX-4410 and sent it again."
RUN_SCANNER = """mutation Run($id: ID!) { runScanner(id: $id) { __typename } }"""
TEST_CONNECTION = """mutation Test($id: ID!) {
  testScannerConnection(id: $id) { __typename ... on MailConnectionError { code } } }"""
ADD_COMMENT = """mutation Comment($ticketId: ID!, $body: String!) {
  addComment(ticketId: $ticketId, body: $body) { __typename } }"""


@dataclass
class Scenario:
    client: httpx2.AsyncClient
    queue: InProcessQueue
    token: str
    logs: io.StringIO

    async def gql(self, query: str, **variables: Any) -> httpx2.Response:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 200 and not response.json().get("errors"), response.text
        return response

    async def metrics(self) -> str:
        response = await self.client.get("/metrics")  # no token needed
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return response.text


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, as the JSON format writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
async def scenario(db: Settings, smtp_server: SmtpTestServer, json_logs: io.StringIO,
                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Scenario]:
    monkeypatch.setenv("MAILSCANNER_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("MAILSCANNER_MESSAGE_ID_DOMAIN", db.message_id_domain)
    await save_smtp_settings(smtp_server)
    queue = InProcessQueue(build_functions(JobsConfig()), ctx={
        "settings": db, "smtp_cafile": smtp_server.ca_file, "send_retry_base_s": 0.3,
        "locks": InProcessLocks()})
    set_queue(queue)
    collectors.install(sample)
    token = await create_token(Role.ADMIN, "ops", "Olga Ops")
    app = create_app(db, start_services=False)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                      base_url="http://testserver") as client:
            yield Scenario(client, queue, token, json_logs)
    finally:
        collectors.install(None)
        set_queue(None)
        await queue.close()


async def test_metrics_and_json_logs_tell_what_a_scan_a_reply_and_a_failed_login_did(
    scenario: Scenario, imap_user: ImapUser, smtp_server: SmtpTestServer, db: Settings
) -> None:
    # given a support mailbox with one customer mail, and a scanner with a wrong password
    imap_user.append("INBOX", [mail("Invoice is wrong", body=BODY)])
    good = await make_scanner(imap_user)
    await add_rule(good, "size > 0", [{"type": "create_contact"},
                                       {"type": "create_or_update_ticket"}])
    bad = await make_scanner(imap_user, password="not-the-password-9f8e7d")
    before = parse(await scenario.metrics())

    # when the scan runs (queued through the API), an agent comments on the new ticket, and
    # the connection test of the bad scanner fails
    run_response = await scenario.gql(RUN_SCANNER, id=str(good.id))
    await scenario.queue.join()
    ticket = await Ticket.get()
    comment_response = await scenario.gql(ADD_COMMENT, ticketId=str(ticket.id), body=COMMENT)
    await scenario.queue.join()
    test = await scenario.gql(TEST_CONNECTION, id=str(bad.id))
    assert test.json()["data"]["testScannerConnection"]["code"] == "LOGIN_REJECTED"
    after = parse(await scenario.metrics())

    # then the metrics count exactly that
    good_id, ticket_created = str(good.id), {"outcome": "ticket_created", "reason": ""}
    assert delta(before, after, "mailscanner_messages_processed_total",
                 scanner_id=good_id, **ticket_created) == 1
    assert delta(before, after, "mailscanner_scan_runs_total",
                 scanner_id=good_id, status="succeeded") == 1
    assert delta(before, after, "mailscanner_scan_duration_seconds_count",
                 status="succeeded") == 1
    for stage in ("fetch", "parse", "write"):
        assert delta(before, after, "mailscanner_message_stage_seconds_count", stage=stage) == 1
    assert delta(before, after, "mailscanner_imap_connection_errors_total",
                 code="LOGIN_REJECTED") == 1
    assert delta(before, after, "mailscanner_comment_emails_total", outcome="sent") == 1
    assert delta(before, after, "mailscanner_comment_email_latency_seconds_count") == 1
    assert delta(before, after, "mailscanner_graphql_requests_total",
                 operation_type="mutation", result="ok") == 3
    assert delta(before, after, "mailscanner_graphql_request_duration_seconds_count",
                 operation_type="mutation") == 3
    assert value(after, "mailscanner_outbox_emails", status="queued") == 0
    assert value(after, "mailscanner_outbox_emails", status="sending") == 0
    assert value(after, "mailscanner_job_queue_depth") == 0
    assert value(after, "mailscanner_subscriptions_open") == 0
    assert len(smtp_server.received()) == 1
    # and no label carries a subject, an address or free text
    for name, labels in after:
        for label, text in labels:
            assert "Invoice" not in text and "@" not in text, (name, label, text)

    # then every log line is one JSON object with the standard fields ...
    lines = scenario.logs.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert all(set(e) <= {"time", "level", "logger", "message", "exc_info", *CONTEXT_FIELDS}
               for e in entries)
    # ... the scan's lines name the scanner, its run, the job and the request that queued it
    run_request = run_response.headers["x-request-id"]
    scan_lines = [e for e in entries if e.get("scanner_id") == good.id and "scan_run_id" in e]
    assert scan_lines and all(e["request_id"] == run_request for e in scan_lines)
    assert all(e["job_id"] == f"scan:{good.id}" for e in scan_lines)
    # ... the send job's lines the ticket and the addComment request
    sent = [e for e in entries if e["message"].startswith("outbound") and "sent" in e["message"]]
    assert len(sent) == 1 and sent[0]["ticket"] == ticket.number
    assert sent[0]["request_id"] == comment_response.headers["x-request-id"]
    assert sent[0]["job_id"].startswith("send:")
    # and no secret, token or message text is in any line
    logged = scenario.logs.getvalue()
    secrets = {
        "mailbox password": imap_user.password, "wrong password": "not-the-password-9f8e7d",
        "SMTP password": smtp_server.password, "API token": scenario.token,
        "API token secret part": scenario.token.split("_", 1)[1],
        "secret key": db.secret_key, "mail body": "7731-ZETA", "comment body": "QUUX-4410",
    }
    leaked = [what for what, secret in secrets.items() if secret in logged]
    assert not leaked, leaked


async def test_request_ids_come_back_in_a_header_and_a_callers_id_is_kept(
    scenario: Scenario
) -> None:
    # when two requests come without an id, and one with its own
    first = await scenario.gql("query Me { me { name } }")
    second = await scenario.gql("query Me { me { name } }")
    theirs = await scenario.client.post(
        "/graphql", json={"query": "query Me { me { name } }"},
        headers={"Authorization": f"Bearer {scenario.token}", "X-Request-ID": "lb-4711.a"})
    unsafe = await scenario.client.post(
        "/graphql", json={"query": "query Me { me { name } }"},
        headers={"Authorization": f"Bearer {scenario.token}", "X-Request-ID": "a b\nfake"})
    refused = await scenario.client.post("/graphql", json={"query": "{ me { name } }"})
    # then each answer names its request; a caller's plain id is kept, an unsafe one replaced
    ids = [r.headers["x-request-id"] for r in (first, second, unsafe, refused)]
    assert len(set(ids)) == 4 and all(len(i) == 32 for i in ids)
    assert theirs.headers["x-request-id"] == "lb-4711.a"
    assert refused.status_code == 401
