"""A rule's folder deleted on the server: the scan warns, it does not fail (real Dovecot)."""

# The api fixture imported from tests/resolvers is a parameter of the tests below.
# ruff: noqa: F811
from __future__ import annotations

from datetime import timedelta

import pytest

from mailscanner.models import Scanner, ScanRunStatus, Ticket
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.cron import effective_interval

from ..fixtures.dovecot import ImapUser
from ..resolvers.conftest import Api, api  # noqa: F401
from ..scanning.helpers import TICKET, add_rule, mail, make_scanner

pytestmark = pytest.mark.integration

HEALTH = """
query($id: ID!) { scanner(id: $id) { health {
  failureCount lastError
  warnings { code folder message rules { id name } }
} } }"""

RUNS = """
query($id: ID!) { scanRuns(scannerId: $id, first: 1) { edges { node {
  status error warnings { code folder rules { name } }
} } } }"""


async def test_a_deleted_rule_folder_warns_and_the_other_folders_are_scanned_on_time(
    api: Api, db: Settings, imap_user: ImapUser
) -> None:
    # given a scanner whose rules read INBOX and Archive, scanned once while both exist
    imap_user.append("Archive", [mail("old case")])
    imap_user.append("INBOX", [mail("first case")])
    scanner = await make_scanner(imap_user, scan_interval_minutes=1)
    archive_rule = await add_rule(scanner, "size > 0", [TICKET], folders=["Archive", "INBOX"],
                                  name="Archive and inbox")
    await add_rule(scanner, "size > 0", [TICKET], folders=["INBOX"], name="Inbox only")
    first = await run_scan(scanner.id, settings=db)
    assert first.status == ScanRunStatus.SUCCEEDED and first.warnings == []
    # when someone deletes Archive on the server, and new mail arrives in INBOX
    with imap_user.client() as client:
        client.delete_folder("Archive")
    imap_user.append("INBOX", [mail("new case")])
    run = await run_scan(scanner.id, settings=db)
    # then the run succeeds with a warning, and the INBOX mail became a ticket
    assert run.status == ScanRunStatus.SUCCEEDED and run.error is None
    assert run.counts["tickets_created"] == 1
    assert await Ticket.filter(title="new case").exists()
    # and the scanner is not backed off: no failure counted, its interval unchanged
    health = await Scanner.get(id=scanner.id)
    assert health.failure_count == 0 and health.last_error is None
    assert effective_interval(health, JobsConfig()) == timedelta(minutes=1)
    # and its health names the missing folder and the rule that reads it, as a typed warning
    data = await api.gql(HEALTH, {"id": str(scanner.id)})
    (warning,) = data["scanner"]["health"]["warnings"]
    assert warning["code"] == "FOLDER_MISSING" and warning["folder"] == "Archive"
    assert warning["rules"] == [{"id": str(archive_rule.id), "name": "Archive and inbox"}]
    assert '"Archive"' in warning["message"] and "Archive and inbox" in warning["message"]
    runs = await api.gql(RUNS, {"id": str(scanner.id)})
    node = runs["scanRuns"]["edges"][0]["node"]
    assert node["status"] == "SUCCEEDED" and node["error"] is None
    assert node["warnings"] == [
        {"code": "FOLDER_MISSING", "folder": "Archive", "rules": [{"name": "Archive and inbox"}]}
    ]
    # when the folder is back, the next scan clears the warning
    with imap_user.client() as client:
        client.create_folder("Archive")
    again = await run_scan(scanner.id, settings=db)
    assert again.status == ScanRunStatus.SUCCEEDED and again.warnings == []
    data = await api.gql(HEALTH, {"id": str(scanner.id)})
    assert data["scanner"]["health"]["warnings"] == []
