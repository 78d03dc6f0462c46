"""Reused SMTP connections (transport/smtp_connections.py) against a real aiosmtpd: a burst goes
through one login, and a connection that is dead, stale or failed is never used again."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from email.message import EmailMessage

import pytest

from mailscanner.models.scanner import Encryption
from mailscanner.models.smtp_settings import SmtpAuth
from mailscanner.transport.smtp import SmtpConfig, SmtpError, SmtpErrorCode, send_message
from mailscanner.transport.smtp_connections import SmtpConnections

from ..fixtures.smtp import SmtpTestServer


def _message(n: int, to: str = "customer@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "support@helpdesk.test"
    msg["To"] = to
    msg["Subject"] = f"[TT{n}] Reply"
    msg.set_content(f"Comment {n}\n")
    return msg


def _config(server: SmtpTestServer) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=server.port, security=Encryption.STARTTLS,
                      auth=SmtpAuth.PASSWORD, username=server.user, password=server.password,
                      sender_address="support@helpdesk.test", cafile=server.ca_file, timeout=5)


def _subjects(server: SmtpTestServer) -> list[str]:
    return sorted(str(m.message["Subject"]) for m in server.received())


@pytest.fixture
async def pool() -> AsyncIterator[SmtpConnections]:
    connections = SmtpConnections()
    try:
        yield connections
    finally:
        await connections.close()


async def test_a_burst_of_sends_goes_through_one_connection(
        smtp_server: SmtpTestServer, pool: SmtpConnections) -> None:
    # when: five comment emails are sent one after the other through the pool
    for n in range(5):
        await send_message(_config(smtp_server), _message(n), connections=pool)
    # then: all five arrived, once each, over one authenticated TLS connection
    mails = smtp_server.received()
    assert _subjects(smtp_server) == [f"[TT{n}] Reply" for n in range(5)]
    assert len({m.peer for m in mails}) == 1 and pool.opened == 1
    assert all(m.tls and m.auth_user == smtp_server.user for m in mails)
    assert pool.idle_count() == 1


async def test_without_a_pool_each_send_has_its_own_connection(
        smtp_server: SmtpTestServer) -> None:
    for n in range(3):
        await send_message(_config(smtp_server), _message(n))
    assert len({m.peer for m in smtp_server.received()}) == 3


async def test_a_connection_the_server_hung_up_on_is_replaced_and_the_mail_sent_once(
        smtp_server: SmtpTestServer, pool: SmtpConnections) -> None:
    # given: a server that hangs up on clients silent for 1 s, and an idle connection
    smtp_server.stop()
    smtp_server.idle_timeout = 1.0
    smtp_server.start()
    await send_message(_config(smtp_server), _message(1), connections=pool)
    await asyncio.sleep(1.5)
    # when
    await send_message(_config(smtp_server), _message(2), connections=pool)
    # then: the dead connection was noticed before sending, the mail went out once
    mails = smtp_server.received()
    assert _subjects(smtp_server) == ["[TT1] Reply", "[TT2] Reply"]
    assert mails[0].peer != mails[1].peer and pool.opened == 2


async def test_an_idle_connection_past_its_time_is_closed_not_used(
        smtp_server: SmtpTestServer) -> None:
    pool = SmtpConnections(idle_seconds=0.2)
    try:
        await send_message(_config(smtp_server), _message(1), connections=pool)
        await asyncio.sleep(0.3)
        await send_message(_config(smtp_server), _message(2), connections=pool)
    finally:
        await pool.close()
    first, second = smtp_server.received()
    assert first.peer != second.peer and pool.opened == 2


async def test_a_connection_is_retired_after_its_message_limit(
        smtp_server: SmtpTestServer) -> None:
    pool = SmtpConnections(max_messages=2)
    try:
        for n in range(5):
            await send_message(_config(smtp_server), _message(n), connections=pool)
    finally:
        await pool.close()
    peers = [m.peer for m in smtp_server.received()]
    assert len(peers) == 5 and pool.opened == 3
    assert peers[0] == peers[1] != peers[2] == peers[3] != peers[4]


async def test_concurrent_sends_each_get_their_own_connection_and_idle_ones_are_capped(
        smtp_server: SmtpTestServer) -> None:
    pool = SmtpConnections(max_idle=2)
    try:
        await asyncio.gather(*(send_message(_config(smtp_server), _message(n), connections=pool)
                               for n in range(6)))
        assert _subjects(smtp_server) == [f"[TT{n}] Reply" for n in range(6)]
        assert pool.idle_count() == 2
    finally:
        await pool.close()
    assert pool.idle_count() == 0
    # a pool that was closed keeps nothing it is given back
    await send_message(_config(smtp_server), _message(7), connections=pool)
    assert pool.idle_count() == 0


async def test_a_failed_send_closes_its_connection(
        smtp_server: SmtpTestServer, pool: SmtpConnections) -> None:
    # given: a refused recipient (permanent failure)
    with pytest.raises(SmtpError) as info:
        await send_message(_config(smtp_server), _message(1, "reject-me@example.com"),
                           connections=pool)
    assert info.value.code == SmtpErrorCode.RECIPIENT_REFUSED
    # then: that connection is gone; the next send opens a new one and delivers
    assert pool.idle_count() == 0
    await send_message(_config(smtp_server), _message(2), connections=pool)
    assert _subjects(smtp_server) == ["[TT2] Reply"] and pool.opened == 2


async def test_other_settings_never_share_a_connection(
        smtp_server: SmtpTestServer, pool: SmtpConnections) -> None:
    starttls = _config(smtp_server)
    implicit = replace(starttls, port=smtp_server.tls_port, security=Encryption.SSL)
    await send_message(starttls, _message(1), connections=pool)
    await send_message(implicit, _message(2), connections=pool)
    await send_message(starttls, _message(3), connections=pool)
    first, second, third = smtp_server.received()
    assert first.peer == third.peer != second.peer and pool.opened == 2
    # a changed password is other settings too: it must log in again, and is refused
    with pytest.raises(SmtpError) as info:
        await send_message(replace(starttls, password="changed"), _message(4), connections=pool)
    assert info.value.code == SmtpErrorCode.AUTH_FAILED
