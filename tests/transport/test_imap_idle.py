"""The watcher's IMAP client against a real Dovecot: every way in, IDLE, STATUS, failures."""

from __future__ import annotations

import asyncio

import pytest

from mailscanner.transport.errors import ErrorCode, MailError
from mailscanner.transport.imap import Encryption, ImapSettings
from mailscanner.transport.imap_idle import IdleClient, Untagged, parse_status

from ..fixtures.dovecot import DovecotServer, ImapUser
from ..scanning.helpers import mail

pytestmark = pytest.mark.integration


def settings(user: ImapUser, encryption: Encryption = "ssl", **extra: object) -> ImapSettings:
    server = user.server
    port = server.imaps_port if encryption == "ssl" else server.imap_port
    values: dict[str, object] = dict(
        host="127.0.0.1",
        port=port,
        encryption=encryption,
        validate_certificate=False,
        username=user.name,
        password=user.password,
        timeout=10.0,
    )
    values.update(extra)
    return ImapSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("encryption", ["ssl", "starttls", "none"])
async def test_idle_reports_a_new_message_as_exists(
    imap_user: ImapUser, encryption: Encryption
) -> None:
    client = await IdleClient.connect(settings(imap_user, encryption))
    try:
        assert "IDLE" in client.capabilities
        opened = await client.examine("INBOX")
        assert Untagged("EXISTS", 0) in opened
        await client.idle()
        await asyncio.to_thread(imap_user.append, "INBOX", [mail("hello")])
        seen: list[Untagged] = []
        for _ in range(20):  # Dovecot tells an idling client within ~0.5-1 s
            seen += await client.wait(1.0)
            if any(r.kind == "EXISTS" for r in seen):
                break
        assert Untagged("EXISTS", 1) in [Untagged(r.kind, r.number) for r in seen]
        await client.done()
        status = await client.status("Trash", ["MESSAGES", "UIDNEXT", "UNSEEN"])
        assert status == {"MESSAGES": 0, "UIDNEXT": 1, "UNSEEN": 0}
    finally:
        await client.logout()


@pytest.mark.parametrize("encryption", ["ssl", "starttls"])
async def test_a_certificate_the_client_cannot_trust_is_refused_when_validation_is_on(
    imap_user: ImapUser, encryption: Encryption
) -> None:
    with pytest.raises(MailError) as failure:
        await IdleClient.connect(settings(imap_user, encryption, validate_certificate=True))
    assert failure.value.code == ErrorCode.TLS_CERTIFICATE_UNTRUSTED
    assert "self-signed certificate" in failure.value.message


async def test_a_wrong_password_is_a_rejected_login(imap_user: ImapUser) -> None:
    with pytest.raises(MailError) as failure:
        await IdleClient.connect(settings(imap_user, password="wrong"))
    assert failure.value.code == ErrorCode.LOGIN_REJECTED
    assert "wrong" not in failure.value.message


async def test_xoauth2_logs_in_with_a_valid_token_and_is_rejected_with_a_stale_one(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    dovecot.add_token("fresh-token", imap_user.name)
    fresh = settings(imap_user, password=None, access_token="fresh-token")
    client = await IdleClient.connect(fresh)
    await client.logout()
    with pytest.raises(MailError) as failure:
        await IdleClient.connect(settings(imap_user, password=None, access_token="stale"))
    assert failure.value.code == ErrorCode.LOGIN_REJECTED


async def test_nobody_listening_is_a_refused_connection(dovecot: DovecotServer) -> None:
    from ..fixtures.dovecot import _free_port

    s = ImapSettings(host="127.0.0.1", port=_free_port(), encryption="none", password="x")
    with pytest.raises(MailError) as failure:
        await IdleClient.connect(s)
    assert failure.value.code == ErrorCode.CONNECTION_REFUSED


def test_status_lines_and_numbered_responses_parse() -> None:
    assert parse_status(b'* STATUS "Tickets/Done" (MESSAGES 3 UIDNEXT 7 UNSEEN 0)') == {
        "MESSAGES": 3,
        "UIDNEXT": 7,
        "UNSEEN": 0,
    }
    assert Untagged.parse(b"* 12 FETCH (FLAGS (\\Seen))") == Untagged(
        "FETCH", 12, b" (FLAGS (\\Seen))"
    )
    assert Untagged.parse(b"* BYE shutting down") == Untagged("BYE", None, b"shutting down")
