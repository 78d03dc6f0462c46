"""The hard stop behind the per-message CPU timer (scanning/budget.py): a parse process that
does not answer by its deadline is killed, its chunk is read again one mail at a time in
new parse processes, and a mail that again does not answer is quarantined with TIMEOUT;
nothing is ever read in the scan process instead."""

from __future__ import annotations

import pytest

from mailscanner.models import MessageOutcome, Scanner
from mailscanner.scanning import batch_prepare, parse_pool
from mailscanner.scanning.batch_prepare import FetchBatch, prepare_batch
from mailscanner.scanning.context import ScanConfig
from mailscanner.scanning.process import Processed
from mailscanner.settings import Settings
from mailscanner.transport.imap import FetchedMessage

from .helpers import mail


async def test_a_parse_process_past_its_deadline_is_killed_and_its_mail_quarantined(
    db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: deadlines no parse process can meet (as for a mail stuck in one C call): none at
    # all, since a warm parse process answers two small mails within a millisecond
    monkeypatch.setattr(batch_prepare, "deadline_for", lambda messages, budget: 0.0)
    scanner = Scanner(id=1, name="s", host="127.0.0.1", username="u")
    config = ScanConfig(scanner=scanner, ticket_prefix="TT", message_id_domain="x.test",
                        parse_processes=1, message_budget_s=5.0)
    fetched = [FetchedMessage(uid, mail(f"case {uid}"), ()) for uid in (1, 2)]
    batch = FetchBatch(config, [], "INBOX", 1, fetched, None, set())
    await parse_pool.run_in_pool(1, int)  # a parse process is up
    before = set(parse_pool.worker_pids())
    # when
    prepared = await prepare_batch(batch)
    # then: both mails quarantined with TIMEOUT, remembered, and the process replaced
    assert prepared is not None
    assert all(isinstance(p, Processed) for p in prepared)
    reasons = [p.fields["reason"] for p in prepared]
    outcomes = [p.fields["outcome"] for p in prepared]
    assert outcomes == [MessageOutcome.QUARANTINED] * 2
    assert all(r.startswith("TIMEOUT") for r in reasons)
    assert [p.fields["subject"] for p in prepared] == ["case 1", "case 2"]
    assert set(batch.timed_out) == {1, 2}
    assert not before & set(parse_pool.worker_pids())
