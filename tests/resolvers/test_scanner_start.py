"""GraphQL: startFrom on scanners, activateScanner's counts, scanPreview, and the typed errors
for a start that can no longer change."""

from __future__ import annotations

from typing import Any

import pytest

from mailscanner.models import FolderState, Scanner, StartFrom
from mailscanner.settings import Settings

from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner
from .conftest import Api

pytestmark = pytest.mark.integration

ACTIVATE = """
mutation ($id: ID!, $history: TicketStatus) {
  activateScanner(id: $id, importHistoryAs: $history) {
    __typename
    ... on ScannerActivated {
      scanner { active startFrom startDate importHistoryAs }
      firstScan { messages wouldScan leftAlone started
                  folders { folder messages wouldScan scanTypePicks leftAlone summary error } }
      firstScanError
    }
    ... on ValidationError { errors { field code message } }
  }
}"""

UPDATE = """
mutation ($id: ID!, $input: ScannerInput!) {
  updateScanner(id: $id, input: $input) {
    __typename
    ... on ScannerPayload { scanner { startFrom startDate } }
    ... on ValidationError { errors { field code message } }
  }
}"""

PREVIEW = """
query ($id: ID!) {
  scanPreview(id: $id) {
    __typename
    ... on ScanPreview {
      startFrom started messages wouldScan leftAlone
      folders { folder messages wouldScan oldest newest firstToScan summary error }
    }
    ... on MailConnectionError { code message }
  }
}"""


async def test_activation_says_what_the_first_scan_takes_and_what_it_leaves_alone(
    db: Settings, api: Api, imap_user: ImapUser
) -> None:
    # given: four read and six unread mails
    imap_user.append("INBOX", [mail(f"old {i}") for i in range(4)], flags=(SEEN,))
    imap_user.append("INBOX", [mail(f"unread {i}") for i in range(6)])
    everything = await make_scanner(imap_user, active=False)
    from_now = await make_scanner(imap_user, active=False, start_from=StartFrom.NOW)
    for scanner in (everything, from_now):
        await add_rule(scanner, "size > 0", [TICKET])
    # when
    result = (await api.gql(ACTIVATE, {"id": str(everything.id)}))["activateScanner"]
    now_result = (await api.gql(ACTIVATE, {"id": str(from_now.id)}))["activateScanner"]
    # then: ALL takes the six unread mails; NOW leaves them alone
    assert result["__typename"] == "ScannerActivated", result
    assert result["scanner"]["active"] and result["firstScanError"] is None
    assert result["firstScan"]["folders"] == [
        {"folder": "INBOX", "messages": 10, "wouldScan": 6, "scanTypePicks": 6, "leftAlone": 0,
         "summary": "10 messages, 6 would be scanned", "error": None}
    ]
    assert now_result["firstScan"]["wouldScan"] == 0 and now_result["firstScan"]["leftAlone"] == 6
    assert now_result["firstScan"]["folders"][0]["summary"] == (
        "10 messages, 0 would be scanned, 6 left alone"
    )
    assert (await FolderState.get(scanner_id=from_now.id)).start_uid == 11
    # and a preview later still agrees
    preview = (await api.gql(PREVIEW, {"id": str(from_now.id)}))["scanPreview"]
    assert preview["started"] and preview["startFrom"] == "NOW" and preview["wouldScan"] == 0
    folder = preview["folders"][0]
    assert folder["oldest"] is not None and folder["firstToScan"] is None


async def test_where_a_scanner_starts_is_checked_and_fixed_once_it_started(
    db: Settings, api: Api, imap_user: ImapUser
) -> None:
    scanner = await make_scanner(imap_user, active=False)
    await add_rule(scanner, "size > 0", [TICKET])
    sid = str(scanner.id)

    async def update(values: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = (
            await api.gql(UPDATE, {"id": sid, "input": values})
        )["updateScanner"]
        return result

    # DATE needs a date, and only DATE takes one
    missing = await update({"startFrom": "DATE"})
    assert missing["errors"] == [
        {
            "field": "input.startDate",
            "code": "REQUIRED",
            "message": "startFrom DATE needs a startDate",
        }
    ]
    stray = await update({"startDate": "2026-01-01"})
    assert stray["errors"][0]["code"] == "INVALID"
    # before it starts, it may change freely
    fine = await update({"startFrom": "DATE", "startDate": "2026-10-05"})
    assert fine["scanner"] == {"startFrom": "DATE", "startDate": "2026-10-05"}
    # activated, importing the mail from the start date on as closed tickets
    activated = (await api.gql(ACTIVATE, {"id": sid, "history": "CLOSED"}))["activateScanner"]
    assert activated["__typename"] == "ScannerActivated"
    assert activated["scanner"]["importHistoryAs"] == "CLOSED"
    # once activated it has started: its start and its history import are fixed
    for change in ({"startFrom": "ALL"}, {"startDate": "2026-01-01"}):
        locked = await update(change)
        (error,) = locked["errors"]
        assert error["code"] == "START_LOCKED" and "new scanner" in error["message"]
    again = (await api.gql(ACTIVATE, {"id": sid, "history": "OPEN"}))["activateScanner"]
    assert again["errors"][0]["code"] == "START_LOCKED"
    same = (await api.gql(ACTIVATE, {"id": sid, "history": "CLOSED"}))["activateScanner"]
    assert same["__typename"] == "ScannerActivated"
    assert (await Scanner.get(id=scanner.id)).start_date is not None


async def test_history_import_is_refused_with_start_from_now(
    db: Settings, api: Api, imap_user: ImapUser
) -> None:
    scanner = await make_scanner(imap_user, active=False, start_from=StartFrom.NOW)
    await add_rule(scanner, "size > 0", [TICKET])
    result = (await api.gql(ACTIVATE, {"id": str(scanner.id), "history": "CLOSED"}))
    (error,) = result["activateScanner"]["errors"]
    assert error["field"] == "importHistoryAs" and "NOW" in error["message"]
    assert not (await Scanner.get(id=scanner.id)).active


async def test_an_unreachable_mailbox_does_not_block_activation(
    db: Settings, api: Api, imap_user: ImapUser
) -> None:
    scanner = await make_scanner(imap_user, active=False, password="wrong")
    await add_rule(scanner, "size > 0", [TICKET])
    result = (await api.gql(ACTIVATE, {"id": str(scanner.id)}))["activateScanner"]
    assert result["__typename"] == "ScannerActivated" and result["scanner"]["active"]
    assert result["firstScan"] is None and result["firstScanError"]
    assert not await FolderState.exists()
    preview = (await api.gql(PREVIEW, {"id": str(scanner.id)}))["scanPreview"]
    assert preview["__typename"] == "MailConnectionError"
