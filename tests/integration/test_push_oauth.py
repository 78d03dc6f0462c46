"""A Microsoft OAuth scanner watched with IDLE re-authenticates with a fresh token when its
connection is dropped after its access token expired (fake Microsoft, real Dovecot)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from mailscanner.models import PushState, PushStatus, Scanner
from mailscanner.settings import Settings
from mailscanner.workers.runtime import start_embedded

from ..fixtures.dovecot import DovecotServer, ImapUser
from ..fixtures.microsoft import FakeMicrosoft
from ..scanning.helpers import TICKET, add_rule, mail
from ..workers.cluster import wait_until
from .test_oauth_imap import authorize_in_browser, oauth_scanner, support  # noqa: F401
from .test_push_embedded import HOURLY, WATCH, state_is, tickets_titled

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def kick(server: DovecotServer, user: str) -> None:
    """What an admin's `doveadm kick` does: Dovecot drops the user's sessions."""
    subprocess.run(
        ["doveadm", "-c", str(Path(server.dir) / "dovecot.conf"), "kick", user],
        check=True,
        capture_output=True,
    )


async def test_a_dropped_oauth_watcher_reconnects_with_a_fresh_token(
    db: Settings,
    microsoft_app: FakeMicrosoft,
    microsoft_dovecot: DovecotServer,
    support: ImapUser,  # noqa: F811
) -> None:
    # given alice's scanner on the shared support mailbox, watched
    account = await authorize_in_browser(microsoft_app, "alice")
    scanner = await oauth_scanner(microsoft_dovecot, support, account)
    await Scanner.filter(id=scanner.id).update(active=True, scan_interval_minutes=60)
    await add_rule(scanner, "size > 0", [TICKET])
    runner = await start_embedded(db, HOURLY, watch=True, watch_config=WATCH)
    try:
        await wait_until(state_is(scanner, PushState.IDLING), "the watcher idling")
        assert microsoft_app.token_calls("refresh_token") == []
        # when the access token has expired and Dovecot drops the session
        microsoft_app.expire_access_tokens()
        await asyncio.to_thread(kick, microsoft_dovecot, support.name)
        watch = runner.watchers.watches[scanner.id].folders[0]  # type: ignore[union-attr]

        async def reconnected() -> bool:
            return watch.connects >= 2 and watch.state == PushState.IDLING

        await wait_until(reconnected, "the watcher idling on a new connection")
        # then it logged in with a refreshed token, and new mail still becomes a ticket
        assert [c["status"] for c in microsoft_app.token_calls("refresh_token")] == [200]
        await asyncio.to_thread(support.append, "INBOX", [mail("Sent after the refresh")])
        await wait_until(tickets_titled("Sent after the refresh"), "the ticket", limit=30)
    finally:
        await runner.stop()
    assert (await PushStatus.get(scanner_id=scanner.id)).state is None
