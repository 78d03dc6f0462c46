"""History outlives configuration: a deleted rule's name stays on the log, and a scanner with
history is only deleted with an explicit confirmation that says what goes (real Dovecot)."""

# The api fixture imported from tests/resolvers is a parameter of the tests below.
# ruff: noqa: F811
from __future__ import annotations

import pytest

from mailscanner.models import MessageLog, Scanner, ScanRun, Ticket
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings

from ..fixtures.dovecot import ImapUser
from ..resolvers.conftest import Api, api  # noqa: F401
from ..scanning.helpers import TICKET, add_rule, mail, make_scanner

pytestmark = pytest.mark.integration

DELETE_RULE = "mutation($id: ID!) { deleteRule(id: $id) { __typename } }"
LOG = """
query($sid: ID!) { messageLog(scannerId: $sid) { edges { node {
  subject ruleId ruleName actions { type ruleId ruleName }
} } } }"""
DELETE_SCANNER = """
mutation($id: ID!, $confirm: Boolean!) { deleteScanner(id: $id, deleteHistory: $confirm) {
  __typename
  ... on ScannerHasHistory { message messageLogEntries scanRuns }
  ... on DeletePayload { id }
} }"""


async def test_a_deleted_rule_keeps_its_name_on_the_log_entries(
    api: Api, db: Settings, imap_user: ImapUser
) -> None:
    # given a mail turned into a ticket by the rule "Printer trouble"
    imap_user.append("INBOX", [mail("printer on fire")])
    scanner = await make_scanner(imap_user)
    rule = await add_rule(scanner, "size > 0", [TICKET], name="Printer trouble")
    await run_scan(scanner.id, settings=db)
    # when the rule is deleted
    data = await api.gql(DELETE_RULE, {"id": str(rule.id)})
    assert data["deleteRule"]["__typename"] == "DeletePayload"
    # then the log entry still says which rule acted
    log = await api.gql(LOG, {"sid": str(scanner.id)})
    [node] = [e["node"] for e in log["messageLog"]["edges"]]
    assert node["subject"] == "printer on fire"
    assert node["ruleId"] is None and node["ruleName"] == "Printer trouble"
    assert node["actions"] == [
        {"type": "create_or_update_ticket", "ruleId": str(rule.id), "ruleName": "Printer trouble"}
    ]


async def test_deleting_a_scanner_with_history_needs_a_confirmation_naming_what_goes(
    api: Api, db: Settings, imap_user: ImapUser
) -> None:
    # given a scanner that has scanned two mails, and one that never scanned
    imap_user.append("INBOX", [mail("one"), mail("two")])
    scanner = await make_scanner(imap_user, name="Support")
    await add_rule(scanner, "size > 0", [TICKET])
    await run_scan(scanner.id, settings=db)
    fresh = await make_scanner(imap_user, name="Unused")
    # when the used one is deleted without confirmation
    data = await api.gql(DELETE_SCANNER, {"id": str(scanner.id), "confirm": False})
    # then nothing is deleted, and the answer says what would be lost
    refused = data["deleteScanner"]
    assert refused["__typename"] == "ScannerHasHistory"
    assert refused["messageLogEntries"] == 2 and refused["scanRuns"] == 1
    assert "2 message-log entries and 1 scan runs" in refused["message"]
    assert await Scanner.exists(id=scanner.id) and await MessageLog.all().count() == 2
    # when it is confirmed, scanner and history go; tickets stay
    data = await api.gql(DELETE_SCANNER, {"id": str(scanner.id), "confirm": True})
    assert data["deleteScanner"] == {"__typename": "DeletePayload", "id": str(scanner.id)}
    assert not await Scanner.exists(id=scanner.id)
    assert not await MessageLog.exists() and not await ScanRun.exists()
    assert await Ticket.all().count() == 2
    # and a scanner without history is deleted at once
    data = await api.gql(DELETE_SCANNER, {"id": str(fresh.id), "confirm": False})
    assert data["deleteScanner"]["__typename"] == "DeletePayload"
