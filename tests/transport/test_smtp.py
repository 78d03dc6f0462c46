"""SMTP sending against a real aiosmtpd: each security mode, auth, and error classification."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from email.message import EmailMessage

import pytest

from mailscanner.models import OAuthAccount, OAuthAppSettings, OAuthProvider
from mailscanner.models.scanner import Encryption
from mailscanner.models.smtp_settings import SmtpAuth
from mailscanner.transport.smtp import (
    SmtpConfig,
    SmtpError,
    SmtpErrorCode,
    classify_smtp_error,
    send_message,
    test_smtp_connection,
)

from ..fixtures.google import FakeGoogle, authorize_google_account
from ..fixtures.microsoft import TENANT_ID, FakeMicrosoft
from ..fixtures.smtp import SmtpTestServer, free_port


def _message(to: str = "customer@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "support@helpdesk.test"
    msg["To"] = to
    msg["Subject"] = "[TT1] Hello"
    msg.set_content("Body text\n")
    return msg


def _starttls(server: SmtpTestServer) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=server.port, security=Encryption.STARTTLS,
                      auth=SmtpAuth.PASSWORD, username=server.user, password=server.password,
                      sender_address="support@helpdesk.test", cafile=server.ca_file, timeout=5)


async def _error(config: SmtpConfig, msg: EmailMessage | None = None) -> SmtpError:
    with pytest.raises(SmtpError) as info:
        await send_message(config, msg or _message())
    return info.value


async def test_starttls_with_password_and_validated_certificate_delivers(
        smtp_server: SmtpTestServer) -> None:
    result = await send_message(_starttls(smtp_server), _message())

    [mail] = smtp_server.received()
    assert mail.tls and mail.auth_user == smtp_server.user
    assert mail.mail_from == "support@helpdesk.test"
    assert mail.rcpt_tos == ["customer@example.com"]
    assert mail.message["Subject"] == "[TT1] Hello"
    assert result.refused == {}


async def test_ssl_on_connect_delivers(smtp_server: SmtpTestServer) -> None:
    config = replace(_starttls(smtp_server), port=smtp_server.tls_port, security=Encryption.SSL)
    await send_message(config, _message())
    [mail] = smtp_server.received()
    assert mail.tls and mail.auth_user == smtp_server.user


async def test_no_security_and_no_auth_delivers_in_plain_text(smtp_server: SmtpTestServer) -> None:
    config = replace(_starttls(smtp_server), port=smtp_server.plain_port,
                     security=Encryption.NONE, auth=SmtpAuth.NONE)
    await send_message(config, _message())
    [mail] = smtp_server.received()
    assert not mail.tls and mail.auth_user is None


async def test_validation_off_accepts_an_untrusted_certificate(smtp_server: SmtpTestServer) -> None:
    config = replace(_starttls(smtp_server), cafile=None, validate_certificate=False)
    await send_message(config, _message())
    assert len(smtp_server.received()) == 1


async def test_untrusted_certificate_is_a_permanent_error_with_advice(
        smtp_server: SmtpTestServer) -> None:
    err = await _error(replace(_starttls(smtp_server), cafile=None))
    assert err.code == SmtpErrorCode.CERTIFICATE_UNTRUSTED and not err.temporary
    assert "certificate" in err.message and "validation" in err.message
    assert smtp_server.received() == []


async def test_untrusted_certificate_on_implicit_tls_is_classified_too(
        smtp_server: SmtpTestServer) -> None:
    config = replace(_starttls(smtp_server), cafile=None, port=smtp_server.tls_port,
                     security=Encryption.SSL)
    err = await _error(config)
    assert err.code == SmtpErrorCode.CERTIFICATE_UNTRUSTED


async def test_wrong_password_is_a_permanent_auth_error(smtp_server: SmtpTestServer) -> None:
    err = await _error(replace(_starttls(smtp_server), password="wrong"))
    assert err.code == SmtpErrorCode.AUTH_FAILED and not err.temporary
    assert "535" in err.message and "password" in err.message


async def test_sending_without_auth_where_required_is_refused(smtp_server: SmtpTestServer) -> None:
    err = await _error(replace(_starttls(smtp_server), auth=SmtpAuth.NONE))
    assert err.code == SmtpErrorCode.SENDER_REFUSED and not err.temporary
    assert "530" in err.message


async def test_connection_refused_is_temporary() -> None:
    config = SmtpConfig(host="127.0.0.1", port=free_port(), timeout=5)
    err = await _error(config)
    assert err.code == SmtpErrorCode.CONNECTION_REFUSED and err.temporary
    assert "refused the connection" in err.message


async def test_ssl_against_a_starttls_port_explains_the_port_mismatch(
        smtp_server: SmtpTestServer) -> None:
    err = await _error(replace(_starttls(smtp_server), security=Encryption.SSL))
    assert err.code == SmtpErrorCode.TLS_FAILED and not err.temporary
    assert "465" in err.message and "587" in err.message


async def test_starttls_against_a_server_without_it_is_not_silently_skipped(
        smtp_server: SmtpTestServer) -> None:
    config = replace(_starttls(smtp_server), port=smtp_server.plain_port)
    err = await _error(config)
    assert err.code == SmtpErrorCode.STARTTLS_UNSUPPORTED and not err.temporary
    assert smtp_server.received() == []


async def test_password_auth_without_tls_where_server_offers_none(
        smtp_server: SmtpTestServer) -> None:
    config = replace(_starttls(smtp_server), port=smtp_server.plain_port, security=Encryption.NONE)
    err = await _error(config)
    assert err.code == SmtpErrorCode.AUTH_UNSUPPORTED and not err.temporary


async def test_refused_recipient_is_permanent_and_quotes_the_server(
        smtp_server: SmtpTestServer) -> None:
    err = await _error(_starttls(smtp_server), _message("reject-me@example.com"))
    assert err.code == SmtpErrorCode.RECIPIENT_REFUSED and not err.temporary
    assert "550" in err.message and "No such user" in err.message


async def test_busy_recipient_is_temporary(smtp_server: SmtpTestServer) -> None:
    err = await _error(_starttls(smtp_server), _message("busy-box@example.com"))
    assert err.code == SmtpErrorCode.RECIPIENT_REFUSED and err.temporary


async def test_one_refused_recipient_among_accepted_ones_still_sends(
        smtp_server: SmtpTestServer) -> None:
    msg = _message("ok@example.com, reject-x@example.com")
    result = await send_message(_starttls(smtp_server), msg)
    [mail] = smtp_server.received()
    assert mail.rcpt_tos == ["ok@example.com"]
    assert list(result.refused) == ["reject-x@example.com"]


async def test_xoauth2_without_an_authorized_account_is_a_clear_error(
        smtp_server: SmtpTestServer) -> None:
    config = replace(_starttls(smtp_server), auth=SmtpAuth.MICROSOFT_OAUTH, password=None)
    err = await _error(config)
    assert err.code == SmtpErrorCode.OAUTH_TOKEN and "authorized" in err.message


async def test_connection_test_logs_in_and_sends_nothing(smtp_server: SmtpTestServer) -> None:
    await test_smtp_connection(_starttls(smtp_server))
    assert smtp_server.received() == []


async def test_connection_test_reports_a_bad_password(smtp_server: SmtpTestServer) -> None:
    with pytest.raises(SmtpError) as info:
        await test_smtp_connection(replace(_starttls(smtp_server), password="nope"))
    assert info.value.code == SmtpErrorCode.AUTH_FAILED


def test_unknown_exceptions_are_retried_rather_than_dropped() -> None:
    err = classify_smtp_error(RuntimeError("odd"))
    assert err.code == SmtpErrorCode.UNKNOWN and err.temporary and "odd" in err.message


def _xoauth2(server: SmtpTestServer, account_id: int, user: str = "support") -> SmtpConfig:
    return replace(_starttls(server), auth=SmtpAuth.MICROSOFT_OAUTH, password=None,
                   username=user, oauth_account_id=account_id)


async def test_xoauth2_sends_with_a_token_of_the_authorized_account(
        smtp_server: SmtpTestServer, microsoft_account: OAuthAccount,
        microsoft: FakeMicrosoft) -> None:
    # the SMTP server accepts exactly the tokens the (fake) Microsoft issued for that mailbox
    smtp_server.oauth_check = lambda user, token: microsoft.introspect(token, user)["active"]
    await send_message(_xoauth2(smtp_server, microsoft_account.id), _message())
    [mail] = smtp_server.received()
    assert mail.auth_user == "support" and mail.tls


async def test_xoauth2_for_a_mailbox_the_account_may_not_open_is_refused(
        smtp_server: SmtpTestServer, microsoft_account: OAuthAccount,
        microsoft: FakeMicrosoft) -> None:
    smtp_server.oauth_check = lambda user, token: microsoft.introspect(token, user)["active"]
    err = await _error(_xoauth2(smtp_server, microsoft_account.id, user="bob"))
    assert err.code == SmtpErrorCode.AUTH_FAILED and not err.temporary


async def test_revoked_authorization_is_permanent_and_outage_is_temporary(
        smtp_server: SmtpTestServer, microsoft_account: OAuthAccount,
        microsoft: FakeMicrosoft) -> None:
    smtp_server.oauth_check = lambda user, token: microsoft.introspect(token, user)["active"]
    microsoft.expire_access_tokens()
    microsoft.unreachable = True
    outage = await _error(_xoauth2(smtp_server, microsoft_account.id))
    assert outage.code == SmtpErrorCode.OAUTH_TOKEN and outage.temporary
    microsoft.unreachable = False
    microsoft.revoke_grant("alice")
    revoked = await _error(_xoauth2(smtp_server, microsoft_account.id))
    assert revoked.code == SmtpErrorCode.OAUTH_TOKEN and not revoked.temporary
    assert "authorization" in revoked.message
    assert smtp_server.received() == []


# -- Google XOAUTH2 ------------------------------------------------------------------------

def _google_check(google: FakeGoogle) -> Callable[[str, str], bool]:
    """Gmail's SMTP: the token must be live and belong to the account logging in."""
    def check(user: str, token: str) -> bool:
        info = google.introspect(token)
        return bool(info["active"]) and info["email"] == user
    return check


async def test_gmail_xoauth2_sends_as_the_authorized_google_account(
        smtp_server: SmtpTestServer, google_app: FakeGoogle) -> None:
    account = await authorize_google_account(google_app, "support@gmail.test")
    smtp_server.oauth_check = _google_check(google_app)
    config = replace(_starttls(smtp_server), auth=SmtpAuth.GOOGLE_OAUTH, password=None,
                     username="support@gmail.test", oauth_account_id=account.id)

    await send_message(config, _message())

    [mail] = smtp_server.received()
    assert mail.auth_user == "support@gmail.test" and mail.tls


async def test_gmail_xoauth2_after_revoked_access_is_a_permanent_error(
        smtp_server: SmtpTestServer, google_app: FakeGoogle) -> None:
    account = await authorize_google_account(google_app, "support@gmail.test")
    smtp_server.oauth_check = _google_check(google_app)
    google_app.revoke("support@gmail.test")
    google_app.expire_access_tokens()
    config = replace(_starttls(smtp_server), auth=SmtpAuth.GOOGLE_OAUTH, password=None,
                     username="support@gmail.test", oauth_account_id=account.id)

    err = await _error(config)

    assert err.code == SmtpErrorCode.OAUTH_TOKEN and not err.temporary
    assert "Re-authorization needed: the Google authorization" in err.message
    assert smtp_server.received() == []


# -- Microsoft app-only ----------------------------------------------------------------------

@pytest.fixture
async def app_only(microsoft_app: FakeMicrosoft) -> FakeMicrosoft:
    app = await OAuthAppSettings.get(provider=OAuthProvider.MICROSOFT)
    app.tenant = TENANT_ID
    await app.save()
    return microsoft_app


def _app_only(server: SmtpTestServer, microsoft: FakeMicrosoft, sender: str) -> SmtpConfig:
    server.oauth_check = lambda user, token: bool(
        microsoft.introspect(token, user, app_role="SMTP.SendAsApp")["active"])
    return replace(_starttls(server), auth=SmtpAuth.MICROSOFT_APP_ONLY, password=None,
                   username="", sender_address=sender)


async def test_app_only_sends_as_the_sender_mailbox(
        smtp_server: SmtpTestServer, app_only: FakeMicrosoft) -> None:
    app_only.service_principal_mailboxes = {"support@contoso.example"}

    await send_message(_app_only(smtp_server, app_only, "support@contoso.example"), _message())

    [mail] = smtp_server.received()
    assert mail.auth_user == "support@contoso.example"


async def test_app_only_for_a_mailbox_the_app_was_not_given_names_the_fix(
        smtp_server: SmtpTestServer, app_only: FakeMicrosoft) -> None:
    app_only.service_principal_mailboxes = {"sales@contoso.example"}

    err = await _error(_app_only(smtp_server, app_only, "support@contoso.example"))

    assert err.code == SmtpErrorCode.AUTH_FAILED and not err.temporary
    assert "Add-MailboxPermission -Identity support@contoso.example" in err.message


async def test_app_only_without_smtp_send_as_app_names_the_permission(
        smtp_server: SmtpTestServer, app_only: FakeMicrosoft) -> None:
    app_only.service_principal_mailboxes = {"support@contoso.example"}
    app_only.app_roles = {"IMAP.AccessAsApp"}

    err = await _error(_app_only(smtp_server, app_only, "support@contoso.example"))

    assert err.code == SmtpErrorCode.OAUTH_TOKEN and not err.temporary
    assert "The app has no SMTP.SendAsApp permission" in err.message
    assert smtp_server.received() == []
