"""Gmail: Google OAuth scanners against a Dovecot laid out like a German Gmail account.

The IMAP server is a real Dovecot whose folders are Gmail's as its IMAP shows them
("[Gmail]/Papierkorb" marked \\Trash, "[Gmail]/Alle Nachrichten" marked \\All, ...), with
XOAUTH2 logins checked against the fake Google's live tokens. What it does not do is keep
labels: a message appended to INBOX and to All Mail is two stored messages with one
Message-ID (Gmail would store one), and expunging in INBOX deletes there (Gmail would only
remove the label, which is why the scanner never relies on it). Dovecot offers no
X-GM-EXT-1, so these scans recognise a message in two folders by its Message-ID; the last
test adds Gmail's extensions at one seam (fixtures/gmail_proxy.py) for X-GM-MSGID.
"""
from __future__ import annotations

import pytest

from mailscanner.models import (
    AuthType,
    Encryption,
    MessageLog,
    MessageOutcome,
    OAuthAccount,
    OAuthAccountStatus,
    Scanner,
    ScanRunStatus,
    ScanType,
    Ticket,
)
from mailscanner.scanning.connect import list_folders, open_session
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings

from ..fixtures.dovecot import DovecotServer, ImapUser
from ..fixtures.gmail_proxy import GmailExtensionsProxy
from ..fixtures.google import FakeGoogle, authorize_google_account
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner

pytestmark = pytest.mark.integration

ALL_MAIL = "[Gmail]/Alle Nachrichten"
TRASH = "[Gmail]/Papierkorb"


def address(user: ImapUser) -> str:
    return f"{user.name}@gmail.test"


async def gmail_scanner(server: DovecotServer, user: ImapUser, account: OAuthAccount) -> Scanner:
    """A Google OAuth scanner on `user`'s mailbox over IMAPS, as for imap.gmail.com:993."""
    return await Scanner.create(
        name=f"gmail {user.name}", active=True, host="127.0.0.1", port=server.imaps_port,
        encryption=Encryption.SSL, validate_certificate=False, scan_type=ScanType.UNREAD,
        auth_type=AuthType.GOOGLE_OAUTH, mailbox_name=address(user), oauth_account=account)


async def test_a_gmail_scanner_logs_in_with_xoauth2_and_keeps_working_after_token_expiry(
        db: Settings, google_app: FakeGoogle, google_dovecot: DovecotServer,
        gmail_user: ImapUser) -> None:
    account = await authorize_google_account(google_app, address(gmail_user))
    scanner = await gmail_scanner(google_dovecot, gmail_user, account)
    gmail_user.append("INBOX", [mail("Printer on fire")])
    await add_rule(scanner, 'subject contains "fire"', [TICKET])

    first = await run_scan(scanner.id, settings=db)
    google_app.expire_access_tokens()
    gmail_user.append("INBOX", [mail("Printer still on fire")])
    second = await run_scan(scanner.id, settings=db)

    assert (first.status, second.status) == (ScanRunStatus.SUCCEEDED, ScanRunStatus.SUCCEEDED)
    assert sorted(t.title for t in await Ticket.all()) == [
        "Printer on fire", "Printer still on fire"]
    assert [c["status"] for c in google_app.token_calls("refresh_token")] == [200]


async def test_the_folder_list_shows_gmails_localized_folders_with_their_special_use(
        db: Settings, google_app: FakeGoogle, google_dovecot: DovecotServer,
        gmail_user: ImapUser) -> None:
    account = await authorize_google_account(google_app, address(gmail_user))
    scanner = await gmail_scanner(google_dovecot, gmail_user, account)

    folders = {f.name: f.special_use for f in await list_folders(scanner)}

    assert folders == {"INBOX": None, ALL_MAIL: "\\All", TRASH: "\\Trash",
                       "[Gmail]/Gesendet": "\\Sent", "[Gmail]/Spam": "\\Junk",
                       "[Gmail]/Entwürfe": "\\Drafts"}
    async with await open_session(scanner) as session:
        assert await session.is_label_store()


async def test_delete_moves_the_mail_to_the_trash_folder_the_server_names(
        db: Settings, gmail_user: ImapUser) -> None:
    gmail_user.append("INBOX", [mail("Win a prize"), mail("Real question")])
    scanner = await make_scanner(gmail_user)
    await add_rule(scanner, 'subject contains "prize"', [{"type": "delete_message"}])

    run = await run_scan(scanner.id, settings=db)

    assert run.counts["deleted"] == 1
    assert gmail_user.subjects("INBOX") == ["Real question"]
    assert gmail_user.subjects(TRASH) == ["Win a prize"]
    assert all(SEEN in flags for flags in gmail_user.flags(TRASH).values())


async def test_delete_in_the_trash_folder_itself_deletes_for_good(
        db: Settings, gmail_user: ImapUser) -> None:
    gmail_user.append(TRASH, [mail("Win a prize")])
    scanner = await make_scanner(gmail_user)
    await add_rule(scanner, "size > 0", [{"type": "delete_message"}], folders=[TRASH])

    await run_scan(scanner.id, settings=db)

    assert gmail_user.subjects(TRASH) == []


async def test_move_changes_the_label_of_an_inbox_mail(
        db: Settings, gmail_user: ImapUser) -> None:
    gmail_user.append("INBOX", [mail("Invoice 7")])
    scanner = await make_scanner(gmail_user)
    await add_rule(scanner, "size > 0", [{"type": "move_to_folder", "folder": "Rechnungen"}])

    await run_scan(scanner.id, settings=db)

    assert gmail_user.subjects("INBOX") == []
    assert gmail_user.subjects("Rechnungen") == ["Invoice 7"]


async def test_moving_out_of_all_mail_only_adds_the_label(
        db: Settings, gmail_user: ImapUser) -> None:
    gmail_user.append(ALL_MAIL, [mail("Invoice 8")])
    scanner = await make_scanner(gmail_user)
    await add_rule(scanner, "size > 0", [{"type": "move_to_folder", "folder": "Rechnungen"}],
                   folders=[ALL_MAIL])

    await run_scan(scanner.id, settings=db)

    assert gmail_user.subjects(ALL_MAIL) == ["Invoice 8"]  # All Mail holds every message
    assert gmail_user.subjects("Rechnungen") == ["Invoice 8"]


async def test_a_mail_in_inbox_and_all_mail_makes_one_ticket(
        db: Settings, gmail_user: ImapUser) -> None:
    same = mail("Printer on fire", message_id="<fire-1@customer.example>")
    gmail_user.append("INBOX", [same])
    gmail_user.append(ALL_MAIL, [same])
    scanner = await make_scanner(gmail_user)
    await add_rule(scanner, "size > 0", [TICKET], folders=["INBOX", ALL_MAIL])

    run = await run_scan(scanner.id, settings=db)
    again = await run_scan(scanner.id, settings=db)

    assert await Ticket.all().count() == 1
    assert (run.counts["tickets_created"], run.counts["skipped"]) == (1, 1)
    log = await MessageLog.get(folder=ALL_MAIL)
    assert (log.outcome, log.reason) == (MessageOutcome.SKIPPED,
                                         "the same message was processed in INBOX")
    assert again.counts["tickets_created"] == 0


async def test_revoked_access_stops_only_that_scanner_and_says_reauthorize(
        db: Settings, google_app: FakeGoogle, google_dovecot: DovecotServer) -> None:
    # given two Gmail scanners of two accounts and a password scanner, each with new mail
    support, sales, other = (google_dovecot.add_user() for _ in range(3))
    scanners = []
    for user in (support, sales):
        account = await authorize_google_account(google_app, address(user))
        scanners.append(await gmail_scanner(google_dovecot, user, account))
    scanners.append(await make_scanner(other))
    for user, scanner in zip((support, sales, other), scanners, strict=True):
        user.append("INBOX", [mail(f"Question for {user.name}")])
        await add_rule(scanner, "size > 0", [TICKET])

    # when support's access is revoked and its access token runs out
    google_app.revoke(address(support))
    google_app.expire_access_tokens()
    runs = [await run_scan(s.id, settings=db) for s in scanners]

    # then the support scanner fails saying what to do, and the others scan
    assert [r.status for r in runs] == [ScanRunStatus.FAILED, ScanRunStatus.SUCCEEDED,
                                        ScanRunStatus.SUCCEEDED]
    health = await Scanner.get(id=scanners[0].id)
    assert health.last_error == runs[0].error == (
        "Re-authorization needed: the Google authorization must be renewed (Token has been "
        "expired or revoked). Open the scanner and make a new authorization.")
    account = await OAuthAccount.get(email=address(support))
    assert account.status == OAuthAccountStatus.REAUTH_NEEDED
    assert sorted(t.title for t in await Ticket.all()) == [
        f"Question for {other.name}", f"Question for {sales.name}"]
    assert all(SEEN not in flags for flags in support.flags("INBOX").values())  # left unread

    # and once support signs in again, the health clears and its mail is scanned
    await authorize_google_account(google_app, address(support), scanner=scanners[0])
    assert (await Scanner.get(id=scanners[0].id)).last_error is None
    assert (await run_scan(scanners[0].id, settings=db)).status == ScanRunStatus.SUCCEEDED
    assert await Ticket.filter(title=f"Question for {support.name}").exists()


# -- X-GM-EXT-1 (Gmail's extensions, emulated at one seam: fixtures/gmail_proxy.py) ---------

async def test_with_gmail_ids_one_message_under_two_labels_is_one_and_a_lookalike_is_not(
        db: Settings, gmail_user: ImapUser, gmail_extensions: GmailExtensionsProxy) -> None:
    # given a mail in INBOX that also carries the All Mail "label" (a COPY keeps its id), and
    # another stored message that happens to have the same Message-ID
    first = mail("Printer on fire", message_id="<fire-1@customer.example>")
    gmail_user.append("INBOX", [first])
    with gmail_user.client() as c:
        c.select_folder("INBOX")
        c.copy(c.search("ALL"), ALL_MAIL)
    gmail_user.append(ALL_MAIL, [mail("Printer on fire (resent)",
                                      message_id="<fire-1@customer.example>")])
    scanner = await make_scanner(gmail_user, port=gmail_extensions.port,
                                 encryption=Encryption.NONE)
    await add_rule(scanner, "size > 0", [TICKET], folders=["INBOX", ALL_MAIL])

    # when it is scanned through a server that offers X-GM-EXT-1
    async with await open_session(scanner) as session:
        assert "X-GM-EXT-1" in await session.capabilities()
    run = await run_scan(scanner.id, settings=db)

    # then the copy is recognised by its Gmail id, the lookalike is processed as a mail
    logs = {(log.folder, log.subject): log for log in await MessageLog.all()}
    inbox = logs[("INBOX", "Printer on fire")]
    copy = logs[(ALL_MAIL, "Printer on fire")]
    lookalike = logs[(ALL_MAIL, "Printer on fire (resent)")]
    assert inbox.server_message_id is not None
    assert copy.server_message_id == inbox.server_message_id
    assert lookalike.server_message_id not in {None, inbox.server_message_id}
    assert (copy.outcome, copy.reason) == (MessageOutcome.SKIPPED,
                                           "the same message was processed in INBOX")
    assert lookalike.outcome == MessageOutcome.PROCESSED
    assert [a["outcome"] for a in lookalike.actions] == ["duplicate"]  # the ticket's own check
    assert run.counts["tickets_created"] == 1
