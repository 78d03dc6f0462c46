"""GraphQL: connection test, live folders, scan runs, the message log and retries."""

from __future__ import annotations

import pytest

from mailscanner.models import MessageLog, MessageOutcome
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings

from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import add_rule, mail, make_scanner
from .conftest import Api

pytestmark = pytest.mark.integration

TEST_CONNECTION = """
mutation ($id: ID!) {
  testScannerConnection(id: $id) {
    __typename
    ... on ConnectionSuccess { capabilities folders { name delimiter parts selectable specialUse } }
    ... on MailConnectionError { code message }
    ... on NotFoundError { message }
  }
}"""

FOLDERS = """
query ($id: ID!) {
  scannerFolders(id: $id) {
    __typename
    ... on ScannerFolderList { folders { name } }
    ... on MailConnectionError { code message }
  }
}"""

RUNS_AND_LOG = """
query ($scannerId: ID!, $filter: MessageLogFilter) {
  scanRuns(scannerId: $scannerId) {
    totalCount
    nodes { status trigger processed total error counts { seen ticketsCreated errors } }
  }
  messageLog(scannerId: $scannerId, filter: $filter) {
    totalCount
    nodes { id subject outcome reason retryable sideEffectsPending ticketId
            actions { type outcome detail ruleId } }
  }
}"""

RETRY = """
mutation ($id: ID!) {
  retryMessage(logId: $id) {
    __typename
    ... on RetryMessagePayload {
      messageLog { outcome sideEffectsPending actions { type outcome } }
    }
    ... on RetryNotPossible { message }
    ... on NotFoundError { message }
  }
}"""


async def test_connection_test_returns_folders_and_capabilities_or_a_typed_error(
    api: Api, imap_user: ImapUser
) -> None:
    # given
    good = await make_scanner(imap_user)
    untrusted = await make_scanner(imap_user, validate_certificate=True)
    # when
    ok = (await api.gql(TEST_CONNECTION, {"id": str(good.id)}))["testScannerConnection"]
    bad = (await api.gql(TEST_CONNECTION, {"id": str(untrusted.id)}))["testScannerConnection"]
    missing = (await api.gql(TEST_CONNECTION, {"id": "999999"}))["testScannerConnection"]
    # then
    assert ok["__typename"] == "ConnectionSuccess" and "IMAP4rev1".upper() in ok["capabilities"]
    inbox = next(f for f in ok["folders"] if f["name"] == "INBOX")
    assert inbox["selectable"] and inbox["delimiter"] == "/"
    assert {"name": "Sent", "specialUse": "\\Sent"}.items() <= next(
        f for f in ok["folders"] if f["name"] == "Sent"
    ).items()
    assert bad["__typename"] == "MailConnectionError" and bad["code"] == "TLS_CERTIFICATE_UNTRUSTED"
    assert "not trusted" in bad["message"]
    assert missing["__typename"] == "NotFoundError"


async def test_scanner_folders_lists_live_folders_and_reports_login_failures(
    api: Api, imap_user: ImapUser
) -> None:
    imap_user.append("Kunden/Rückfragen", [mail("x")])
    scanner = await make_scanner(imap_user)
    wrong = await make_scanner(imap_user, password="wrong")
    listed = (await api.gql(FOLDERS, {"id": str(scanner.id)}))["scannerFolders"]
    assert "Kunden/Rückfragen" in [f["name"] for f in listed["folders"]]
    failed = (await api.gql(FOLDERS, {"id": str(wrong.id)}))["scannerFolders"]
    assert (
        failed
        == {
            "__typename": "MailConnectionError",
            "code": "LOGIN_REJECTED",
            "message": failed["message"],
        }
        and "rejected the login" in failed["message"]
    )


async def test_agents_cannot_test_connections(api: Api, imap_user: ImapUser) -> None:
    scanner = await make_scanner(imap_user)
    response = (await api.post(TEST_CONNECTION, {"id": str(scanner.id)}, token="agent")).json()
    assert response["errors"][0]["message"] == "Only administrators may do this"


async def test_runs_and_the_message_log_show_what_happened_and_retry_fixes_quarantined_mail(
    api: Api, db: Settings, imap_user: ImapUser
) -> None:
    # given: a scan where one message hits a broken rule
    imap_user.append("INBOX", [mail("broken"), mail("fine")])
    scanner = await make_scanner(imap_user)
    broken = await add_rule(
        scanner, 'subject contains "broken"', [{"type": "move_to_folder", "folder": ""}]
    )
    await add_rule(scanner, "size > 0", [{"type": "create_or_update_ticket"}])
    await run_scan(scanner.id, settings=db)
    # when
    data = await api.gql(RUNS_AND_LOG, {"scannerId": str(scanner.id)})
    # then
    run = data["scanRuns"]["nodes"][0]
    assert run["status"] == "SUCCEEDED" and run["processed"] == run["total"] == 2
    assert run["counts"] == {"seen": 2, "ticketsCreated": 1, "errors": 1}
    entries = {e["subject"]: e for e in data["messageLog"]["nodes"]}
    assert entries["fine"]["outcome"] == "PROCESSED" and entries["fine"]["ticketId"]
    assert entries["fine"]["actions"][0]["type"] == "create_or_update_ticket"
    assert entries["broken"]["outcome"] == "QUARANTINED" and entries["broken"]["retryable"]
    assert "folder" in entries["broken"]["reason"]
    only = await api.gql(
        RUNS_AND_LOG, {"scannerId": str(scanner.id), "filter": {"outcome": "QUARANTINED"}}
    )
    assert [e["subject"] for e in only["messageLog"]["nodes"]] == ["broken"]
    # when the rule is fixed and the message retried
    broken.actions = [{"type": "move_to_folder", "folder": "Fixed"}]
    await broken.save()
    retried = (await api.gql(RETRY, {"id": entries["broken"]["id"]}))["retryMessage"]
    assert retried["__typename"] == "RetryMessagePayload"
    assert (
        retried["messageLog"]["outcome"] == "PROCESSED"
        and retried["messageLog"]["sideEffectsPending"]
    )
    # the next scan applies the pending move; a second retry is refused
    await run_scan(scanner.id, settings=db)
    assert imap_user.subjects("Fixed") == ["broken"]
    again = (await api.gql(RETRY, {"id": entries["broken"]["id"]}))["retryMessage"]
    assert again["__typename"] == "RetryNotPossible"
    assert (
        await MessageLog.get(id=int(entries["broken"]["id"]))
    ).outcome == MessageOutcome.PROCESSED
