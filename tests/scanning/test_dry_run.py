"""Dry runs against the real Dovecot and database: a mailbox of a few hundred messages over
several months is dry-run, then really scanned. The dry run must change nothing (mailbox
flags and UIDs, every table, no email sent) and must predict, message by message, what the
scan then does: outcome, rule, each action and its ticket number, the IMAP effects."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from tortoise import Tortoise

from mailscanner.models import (
    FolderState,
    MessageLog,
    Scanner,
    Sequence,
    Ticket,
    TicketStatus,
)
from mailscanner.scanning import dry_run as dry_run_module
from mailscanner.scanning.dry_run import DryRunError, DryRunOptions, dry_run
from mailscanner.scanning.dry_run_report import MessagePreview
from mailscanner.scanning.pipeline import run_scan
from mailscanner.scanning.start import scan_preview
from mailscanner.settings import Settings
from mailscanner.workers.cron import sweep_outbound_jobs
from mailscanner.workers.runtime import start_embedded

from ..fixtures.dovecot import ImapUser
from ..fixtures.smtp import SmtpTestServer
from .helpers import SEEN, TICKET, add_rule, mail, make_scanner
from .history import append_history, helpdesk_rules, helpdesk_state

pytestmark = pytest.mark.integration


HOW = {  # the log's word for how a reply found its ticket -> the dry run's words
    "message_id": "matched by Message-ID",
    "subject_number": "matched by the ticket number in the subject",
    "regex": "matched by the rule's ticket pattern",
    "subject": "matched by the same subject",
}
CREATED = re.compile(r"would create ticket (?P<number>\w+)(?: \((?P<fields>[^)]*)\))?")


def mailbox_state(user: ImapUser) -> dict[str, Any]:
    """Every folder with its UIDVALIDITY, UIDNEXT and each message's flags (read with
    EXAMINE, which changes nothing: \\Recent flags would show a SELECT)."""
    out: dict[str, Any] = {}
    with user.client() as c:
        for _, _, name in c.list_folders():
            info = c.select_folder(name, readonly=True)
            uids = c.search("ALL")
            flags = c.fetch(uids, ["FLAGS"]) if uids else {}
            out[name] = (
                info[b"UIDVALIDITY"],
                info[b"UIDNEXT"],
                {uid: sorted(v[b"FLAGS"]) for uid, v in flags.items()},
            )
    return out


async def database_state() -> dict[str, Any]:
    """Row counts of every table, the ticket counter, checkpoints and scanner health."""
    counts = {
        name: await model.all().count() for name, model in Tortoise.apps["models"].items()
    }
    return {
        "counts": counts,
        "sequence": await Sequence.all().values_list("name", "value"),
        "checkpoints": await FolderState.all().values_list("folder", "uidvalidity", "last_uid"),
        "health": await Scanner.all().values_list("last_scan_at", "failure_count"),
    }


def effects(preview: MessagePreview) -> list[dict[str, str]]:
    """The IMAP effects the dry run says the scan applies, as the log row stores them."""
    out = [{"op": "seen"}] if preview.mark_read else []
    for action in preview.actions:
        if action.outcome == "pending" and action.type == "move_to_folder":
            target = re.match(r"would move to (.+?) \(", action.description)
            assert target is not None, action.description
            out.append({"op": "move", "folder": target.group(1)})
        elif action.outcome == "pending" and action.type == "delete_message":
            out.append({"op": "delete"})
    return out


def assert_same_target(description: str, detail: str) -> None:
    """The ticket or contact a dry-run action names is the one the scan's log detail names
    (the log names contacts by id: created or found is what can be compared)."""
    created = re.match(r"would create ticket (\w+)", description)
    if created:
        assert detail.startswith(f"created ticket {created.group(1)}"), (description, detail)
    commented = re.match(r"would add a comment to (\w+) \((matched by [^;)]+)", description)
    if commented:
        assert f"added to {commented.group(1)} " in detail, (description, detail)
        how = re.search(r"\(matched by (\w+)\)", detail)
        assert how is not None and HOW[how.group(1)] == commented.group(2), (description, detail)
    if description.startswith("would create contact"):
        assert detail.startswith("created contact"), (description, detail)
    elif description.startswith("contact "):
        assert detail.startswith("found contact"), (description, detail)


@pytest.mark.parametrize("imported", [None, TicketStatus.CLOSED], ids=["new", "history"])
async def test_a_dry_run_predicts_the_next_scan_message_by_message_and_changes_nothing(
    db: Settings, imap_user: ImapUser, smtp_server: SmtpTestServer, imported: TicketStatus | None
) -> None:
    # given: a helpdesk with a ticket, a comment email it sent, a contact, SMTP settings for
    # the test server, and a mailbox of 300 messages over six dates (activated to import it
    # as history, or to take it as new mail)
    await helpdesk_state(smtp_server)
    history = append_history(imap_user, 300)
    scanner = await make_scanner(imap_user, import_history_as=imported)
    await helpdesk_rules(scanner)
    await scan_preview(scanner, record_start=True)
    runner = await start_embedded(db, cron=False)  # would send any email the helpdesk queues
    try:
        mailbox_before, database_before = mailbox_state(imap_user), await database_state()
        # when: a dry run of everything the next scan reads
        report = await dry_run(scanner, DryRunOptions(limit=500, pick="next_scan"), db)
        await sweep_outbound_jobs()
        await runner.queue.join()
        # then: nothing changed anywhere, no email left
        assert mailbox_state(imap_user) == mailbox_before
        assert await database_state() == database_before
        assert smtp_server.received() == []
        unread = sorted(set(history.arrived) - history.seen)
        assert [m.uid for m in report.messages] == unread
        assert report.next_scan == len(unread) and report.folder_messages == 300
        assert all(m.would_scan and not m.already_processed for m in report.messages)
        # when: the real scan runs (two fetch batches: the dry run planned them as one)
        run = await run_scan(scanner.id, settings=db)
        await sweep_outbound_jobs()
        await runner.queue.join()
    finally:
        await runner.stop()
    # then: it did what the dry run said, message by message
    assert run.status.value == "succeeded", run.error
    logs = {int(log.uid): log for log in await MessageLog.filter(scanner_id=scanner.id)}
    assert sorted(logs) == unread
    kinds: set[str] = set()
    for m in report.messages:
        log = logs[m.uid]
        kinds.add(m.kind)
        assert m.outcome == log.outcome.value, (m, log.actions)
        assert (m.matched_rule.rule_id if m.matched_rule else None) == log.rule_id  # type: ignore[attr-defined]
        assert (m.skipped_reason or "").removeprefix("would be quarantined: ") == (log.reason or "")
        assert [(a.type, a.rule_id, a.outcome) for a in m.actions] == [
            (a["type"], a.get("rule_id"), a["outcome"]) for a in log.actions
        ], m.uid
        for action, logged in zip(m.actions, log.actions, strict=True):
            assert_same_target(action.description, logged["detail"])
        assert effects(m) == log.pending_effects, m.uid
    # the mailbox had every kind of mail, and the scan sent nothing either
    assert {"normal", "auto_reply", "bounce"} <= kinds
    outcomes = {m.outcome for m in report.messages}
    assert {"processed", "skipped"} <= outcomes
    assert smtp_server.received() == []
    created = [
        a for m in report.messages for a in m.actions if "would create ticket" in a.description
    ]
    assert len(created) == await Ticket.all().count() - 1  # TT1 existed
    for action in created:  # with the fields and the date the dry run said
        found = CREATED.match(action.description)
        assert found is not None, action.description
        ticket = await Ticket.get(number=found["number"])
        fields = found["fields"].split(", ") if found["fields"] else []
        shown = dict(f.split(" ", 1) for f in fields)
        actual = {k: str(getattr(getattr(ticket, k), "value", getattr(ticket, k))) for k in shown}
        assert actual == shown, action.description
        assert ("(history)" in action.description) == (imported is not None)
        if imported is not None:
            assert ticket.status == imported
            assert f"dated {ticket.created_at:%Y-%m-%d}" in action.description


async def test_newest_messages_with_explanations_a_draft_condition_and_chosen_rules(
    db: Settings, imap_user: ImapUser
) -> None:
    # given: read mail, then two new mails; a scanner whose scan already took the first
    imap_user.append("INBOX", [mail("Invoice 1 overdue", message_id="<i1@customer.example>")])
    scanner = await make_scanner(imap_user)
    billing = await add_rule(scanner, 'subject contains "invoice"', [TICKET], name="Billing")
    other = await add_rule(scanner, "size > 0", [TICKET], name="Everything")
    await run_scan(scanner.id, settings=db)
    imap_user.append("INBOX", [mail("Printer on fire", body="it smokes\n"), mail("Invoice 2")])
    uids = imap_user.uids("INBOX")
    # when
    report = await dry_run(
        scanner,
        DryRunOptions(limit=2, draft={"v": 1, "field": "body", "op": "contains",
                                      "value": "smokes"}),
        db,
    )
    # then: the newest two, explained per rule, with the matched text
    assert [m.uid for m in report.messages] == uids[-2:]
    fire, invoice = report.messages
    assert fire.matched_rule is not None and fire.matched_rule.rule_id == other.id
    assert [r.matches for r in fire.rules] == [False, True]
    assert invoice.matched_rule is not None and invoice.matched_rule.rule_id == billing.id
    assert invoice.rules[0].explanation is not None
    assert invoice.rules[0].explanation["matched"] == ["Invoice 2"]
    assert fire.draft is not None and fire.draft.matches and invoice.draft is not None
    assert fire.draft.explanation is not None and fire.draft.explanation["matched"]
    assert not invoice.draft.matches
    assert [a.description for a in fire.actions] == ["would create ticket TT2"]
    assert fire.would_scan and fire.mark_read and report.next_scan == 2
    # when: the first mail, already processed, looked at with only the "Everything" rule
    again = await dry_run(scanner, DryRunOptions(limit=3, rule_ids=(other.id,)), db)
    first = again.messages[0]
    # then: the scan never reads it again, and its ticket exists for it
    assert first.already_processed and not first.would_scan
    assert [r.rule_id for r in first.rules] == [other.id]
    assert first.actions[0].description == "nothing to do: ticket TT1 was created from this mail"


async def test_a_dry_run_reads_within_its_byte_budget_and_refuses_what_does_not_exist(
    db: Settings, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    imap_user.append("INBOX", [mail(f"mail {i}", body="x" * 3000 + "\n") for i in range(6)])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET])
    other = await make_scanner(imap_user)
    foreign = await add_rule(other, "size > 0", [TICKET])
    size = len(mail("mail 0", body="x" * 3000 + "\n"))
    monkeypatch.setattr(dry_run_module, "MAX_READ_BYTES", 3 * size + size // 2)
    # the newest messages that fit are read, the rest are listed as not read
    report = await dry_run(scanner, DryRunOptions(limit=6), db)
    read = [m for m in report.messages if m.outcome != "not_read"]
    assert len(read) == 3 and [m.uid for m in read] == imap_user.uids("INBOX")[-3:]
    assert all(m.actions for m in read) and report.notes
    # the next scan's first messages, in order, when they are what is asked for
    report = await dry_run(scanner, DryRunOptions(limit=6, pick="next_scan"), db)
    read = [m for m in report.messages if m.outcome != "not_read"]
    assert [m.uid for m in read] == imap_user.uids("INBOX")[:3]
    with pytest.raises(DryRunError) as missing:
        await dry_run(scanner, DryRunOptions(folder="Nope"), db)
    assert missing.value.field == "folder" and "Nope" in missing.value.message
    with pytest.raises(DryRunError) as foreign_rule:
        await dry_run(scanner, DryRunOptions(rule_ids=(foreign.id,)), db)
    assert foreign_rule.value.field == "ruleIds"
    for limit in (0, 501):
        with pytest.raises(DryRunError):
            await dry_run(scanner, replace(DryRunOptions(), limit=limit), db)
    assert not await MessageLog.exists() and not await Ticket.exists()
    assert all(SEEN not in f for f in imap_user.flags("INBOX").values())


async def test_a_message_processed_in_another_folder_is_a_duplicate_in_the_dry_run_too(
    db: Settings, imap_user: ImapUser
) -> None:
    same = mail("Printer on fire", message_id="<same@customer.example>")
    imap_user.append("INBOX", [same])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET], folders=["INBOX", "Copies"])
    await run_scan(scanner.id, settings=db)
    imap_user.append("Copies", [same, mail("Only here")])
    report = await dry_run(scanner, DryRunOptions(folder="Copies"), db)
    copy, other = report.messages
    assert copy.outcome == "skipped" and copy.actions == []
    assert copy.skipped_reason == "the same message was processed in INBOX"
    assert [a.description for a in other.actions] == ["would create ticket TT2"]
    run = await run_scan(scanner.id, settings=db)
    assert run.counts["skipped"] == 1 and await Ticket.all().count() == 2
