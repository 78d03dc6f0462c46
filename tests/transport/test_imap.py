"""The IMAP session against a real Dovecot, and the error table that explains failures."""

from __future__ import annotations

import imaplib
import socket
import ssl
from collections.abc import Iterator

import pytest
from imapclient.exceptions import LoginError

from mailscanner.transport.errors import ErrorCode, MailError, ReauthorizationNeeded, classify_error
from mailscanner.transport.imap import SEEN, ImapSession, ImapSettings

from ..fixtures.dovecot import DovecotServer, ImapUser

pytestmark = pytest.mark.integration

MAIL = b"From: Ann <ann@example.com>\r\nTo: support@example.org\r\nSubject: %s\r\n\r\nHello\r\n"


def settings_for(dovecot: DovecotServer, user: ImapUser, **kw: object) -> ImapSettings:
    base: dict[str, object] = dict(
        host="127.0.0.1",
        port=dovecot.imaps_port,
        encryption="ssl",
        validate_certificate=False,
        username=user.name,
        password=user.password,
        timeout=5.0,
    )
    base.update(kw)
    return ImapSettings(**base)  # type: ignore[arg-type]


async def failure(settings: ImapSettings) -> MailError:
    with pytest.raises(MailError) as info:
        session = await ImapSession.open(settings)
        await session.close()
    return info.value


async def test_tls_with_validation_rejects_the_self_signed_certificate_with_the_reason(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    error = await failure(settings_for(dovecot, imap_user, validate_certificate=True))
    assert error.code == ErrorCode.TLS_CERTIFICATE_UNTRUSTED
    assert "self-signed certificate" in error.message
    assert "Traceback" not in error.message


async def test_starttls_with_validation_rejects_the_self_signed_certificate_with_the_reason(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    # The cleanup after the failed handshake once raised "Bad file descriptor" and hid this.
    error = await failure(
        settings_for(
            dovecot, imap_user, encryption="starttls", port=dovecot.imap_port,
            validate_certificate=True,
        )
    )
    assert error.code == ErrorCode.TLS_CERTIFICATE_UNTRUSTED
    assert "self-signed certificate" in error.message
    assert "Bad file descriptor" not in error.message


async def test_starttls_with_validation_works_when_the_certificate_is_trusted(
    dovecot: DovecotServer, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", dovecot.ca_file)
    settings = settings_for(
        dovecot, imap_user, encryption="starttls", port=dovecot.imap_port,
        validate_certificate=True,
    )
    async with await ImapSession.open(settings) as s:
        assert "INBOX" in [f.name for f in await s.list_folders()]


async def test_tls_with_validation_works_when_the_certificate_is_trusted(
    dovecot: DovecotServer, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", dovecot.ca_file)
    async with await ImapSession.open(
        settings_for(dovecot, imap_user, validate_certificate=True)
    ) as s:
        assert "INBOX" in [f.name for f in await s.list_folders()]


async def test_tls_without_validation_and_starttls_both_log_in(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    for settings in (
        settings_for(dovecot, imap_user),
        settings_for(dovecot, imap_user, encryption="starttls", port=dovecot.imap_port),
        settings_for(dovecot, imap_user, encryption="none", port=dovecot.imap_port),
    ):
        async with await ImapSession.open(settings) as session:
            assert "MOVE" in await session.capabilities()


async def test_wrong_password_is_reported_as_login_rejected(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    error = await failure(settings_for(dovecot, imap_user, password="wrong"))
    assert error.code == ErrorCode.LOGIN_REJECTED
    assert "rejected the login" in error.message


async def test_xoauth2_logs_in_with_a_token_the_server_accepts(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    dovecot.add_token("tok-" + imap_user.name, imap_user.name)
    settings = settings_for(dovecot, imap_user, password=None, access_token="tok-" + imap_user.name)
    async with await ImapSession.open(settings) as session:
        assert (await session.select("INBOX")).exists == 0
    bad = settings_for(dovecot, imap_user, password=None, access_token="not-a-token")
    assert (await failure(bad)).code == ErrorCode.LOGIN_REJECTED


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections but never greets (a firewall black hole, nearly)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(5)
        yield s.getsockname()[1]


async def test_network_failures_get_their_own_codes(
    dovecot: DovecotServer, imap_user: ImapUser, silent_port: int
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    refused = await failure(settings_for(dovecot, imap_user, port=closed_port))
    assert refused.code == ErrorCode.CONNECTION_REFUSED
    assert str(closed_port) in refused.message
    not_found = await failure(settings_for(dovecot, imap_user, host="no-such-host.invalid"))
    assert not_found.code == ErrorCode.HOST_NOT_FOUND
    assert "no-such-host.invalid" in not_found.message
    timeout = await failure(settings_for(dovecot, imap_user, port=silent_port, timeout=0.3))
    assert timeout.code == ErrorCode.TIMEOUT
    wrong_tls = await failure(settings_for(dovecot, imap_user, port=dovecot.imap_port))
    assert wrong_tls.code == ErrorCode.TLS_ERROR
    assert "STARTTLS" in wrong_tls.message


async def test_folders_are_listed_decoded_with_their_delimiter(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    with imap_user.client() as c:
        c.create_folder("Été/Réclamations")
    async with await ImapSession.open(settings_for(dovecot, imap_user)) as session:
        folders = {f.name: f for f in await session.list_folders()}
    assert "Été/Réclamations" in folders
    assert folders["Été/Réclamations"].delimiter == "/"
    assert folders["Été/Réclamations"].parts == ["Été", "Réclamations"]
    assert folders["Sent"].special_use == "\\Sent"


async def test_fetch_peeks_and_flag_move_delete_change_the_server(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", [MAIL % b"one", MAIL % b"two", MAIL % b"three"])
    async with await ImapSession.open(settings_for(dovecot, imap_user)) as session:
        status = await session.select("INBOX")
        uids = await session.search(["ALL"])
        fetched = await session.fetch(uids)
        assert status.exists == 3 and [m.uid for m in fetched] == uids
        assert b"Subject: one" in fetched[0].raw
        assert await session.search(["UNSEEN"]) == uids  # PEEK left them unread
        await session.add_flags(uids[:1], [SEEN])
        await session.move(uids[1:2], "Tickets/Done")
        await session.delete(uids[2:])
    assert imap_user.uids("INBOX") == uids[:1]
    assert SEEN in imap_user.flags("INBOX")[uids[0]]
    assert imap_user.subjects("Tickets/Done") == ["two"]


async def test_fetch_returns_exact_bytes_and_flags_and_skips_uids_that_are_gone(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    # given: mail with and without flags, one big one with a line that looks like IMAP syntax
    big = MAIL.replace(b"Hello", b"UID 999 FLAGS (\\Deleted) BODY[] {5}\r\n" + b"x" * 300_000)
    imap_user.append("INBOX", [MAIL % b"plain"])
    imap_user.append("INBOX", [MAIL % b"flagged"], flags=(SEEN, b"\\Flagged"))
    imap_user.append("INBOX", [big % b"big"])
    async with await ImapSession.open(settings_for(dovecot, imap_user)) as session:
        await session.select("INBOX")
        uids = await session.search(["ALL"])
        # when: asking for the three and for a UID that no longer exists
        fetched = await session.fetch([*uids, max(uids) + 50])
    # then (\\Recent is the server's session flag, not ours)
    flags = [sorted(set(m.flags) - {b"\\Recent"}) for m in fetched]
    assert [m.uid for m in fetched] == uids
    assert fetched[0].raw == MAIL % b"plain" and flags[0] == []
    assert flags[1] == [b"\\Flagged", SEEN]
    assert fetched[2].raw == big % b"big" and flags[2] == []


async def test_selecting_a_missing_folder_says_so(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    async with await ImapSession.open(settings_for(dovecot, imap_user)) as session:
        with pytest.raises(MailError) as info:
            await session.select("Nope")
    assert info.value.code == ErrorCode.FOLDER_NOT_FOUND


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (
            LoginError(
                "b'[ALERT] Application-specific password required: https://support.google.com "
                "(Failure)'"
            ),
            ErrorCode.IMAP_DISABLED,
        ),
        (
            LoginError(
                "[ALERT] Your account is not enabled for IMAP use. Please visit your Gmail "
                "settings page and enable your account for IMAP access. (Failure)"
            ),
            ErrorCode.IMAP_DISABLED,
        ),
        (imaplib.IMAP4.error("User is authenticated but not connected."), ErrorCode.IMAP_DISABLED),
        (
            LoginError("b'[AUTHENTICATIONFAILED] Invalid credentials (Failure)'"),
            ErrorCode.LOGIN_REJECTED,
        ),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), ErrorCode.TLS_ERROR),
        (socket.gaierror(-2, "Name or service not known"), ErrorCode.HOST_NOT_FOUND),
        (TimeoutError("timed out"), ErrorCode.TIMEOUT),
        (imaplib.IMAP4.abort("socket error: EOF"), ErrorCode.NETWORK_ERROR),
        (ReauthorizationNeeded("invalid_grant"), ErrorCode.OAUTH_REAUTH_REQUIRED),
    ],
)
def test_the_error_table_classifies_what_servers_and_sockets_raise(
    exc: BaseException, code: ErrorCode
) -> None:
    error = classify_error(exc, host="imap.example.com", port=993)
    assert error.code == code
    assert "b'" not in error.message and error.message[0].isupper()


def test_imap_disabled_quotes_the_server_text_without_python_noise() -> None:
    error = classify_error(
        LoginError("b'[ALERT] IMAP access is disabled for your domain.'"), host="imap.gmail.com"
    )
    assert error.message.startswith(
        "The server does not allow IMAP for this mailbox: "
        "[ALERT] IMAP access is disabled for your domain"
    )


async def test_move_without_the_move_capability_copies_and_expunges_only_that_message(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", [MAIL % b"go", MAIL % b"stay"])
    with imap_user.client() as c:  # another client's \Deleted mail must survive our expunge
        c.select_folder("INBOX")
        c.add_flags(c.search(["SUBJECT", "stay"]), [b"\\Deleted"])
    async with await ImapSession.open(settings_for(dovecot, imap_user)) as session:
        real = session._client.has_capability
        session._client.has_capability = lambda cap: cap != "MOVE" and real(cap)
        await session.select("INBOX")
        await session.move(await session.search(["SUBJECT", "go"]), "Old")
    assert imap_user.subjects("Old") == ["go"]
    assert imap_user.subjects("INBOX") == ["stay"]
