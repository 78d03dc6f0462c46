"""models/bulk.py on the real databases: rows inserted in one statement come back as the
ORM would have written them, ids match their rows, and fast-built rows equal Model(...)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError

from mailscanner.models import (
    Contact,
    MessageLog,
    MessageOutcome,
    Scanner,
    SideEffects,
    Ticket,
    TicketPriority,
    TicketStatus,
)
from mailscanner.models.bulk import MAX_PARAMS, insert_models, insert_rows, new_row
from mailscanner.settings import Settings


async def test_rows_are_stored_with_their_defaults_and_converted_values(db: Settings) -> None:
    # given
    scanner = await Scanner.create(name="s", host="h", username="u")
    rows = [
        dict(
            scanner_id=scanner.id,
            folder="INBOX",
            uidvalidity=7,
            uid=uid,
            subject=f"mail {uid}",
            outcome=MessageOutcome.PROCESSED,
            actions=[{"type": "create_contact", "outcome": "done", "detail": "ünïcode"}],
        )
        for uid in (1, 2, 3)
    ]
    before = datetime.now(UTC)
    # when
    returned = await insert_rows(MessageLog, rows, connections.get("default"), ("id", "uid"))
    # then: each row reads back as the ORM wrote it, defaults filled in
    assert sorted(int(r["uid"]) for r in returned) == [1, 2, 3]
    for r in returned:
        log = await MessageLog.get(id=r["id"])
        assert log.uid == r["uid"] and log.subject == f"mail {log.uid}"
        assert log.outcome == MessageOutcome.PROCESSED and log.side_effects == SideEffects.DONE
        assert log.actions[0]["detail"] == "ünïcode" and log.pending_effects == []
        assert log.message_id is None and log.raw_message is None
        assert log.created_at >= before.replace(microsecond=0)


async def test_ids_come_back_matched_to_their_models(db: Settings) -> None:
    # given: more rows than one SQLite statement takes
    count = MAX_PARAMS // 7 + 50
    contacts = [
        new_row(Contact, name=f"n{i}", email=f"u{i}@x.test", email_normalized=f"u{i}@x.test")
        for i in range(count)
    ]
    # when
    await insert_models(contacts, connections.get("default"), key="email_normalized")
    # then: every model has its own row's id and counts as saved
    assert await Contact.all().count() == count
    stored = dict(await Contact.all().values_list("email_normalized", "id"))
    assert all(c.id == stored[c.email_normalized] and c._saved_in_db for c in contacts)
    contacts[5].name = "renamed"
    await contacts[5].save()  # an UPDATE now, not a second insert
    assert (await Contact.get(id=contacts[5].id)).name == "renamed"
    assert await Contact.all().count() == count


async def test_a_duplicate_key_fails_the_whole_statement(db: Settings) -> None:
    rows = [
        dict(name="a", email="a@x.test", email_normalized="a@x.test"),
        dict(name="b", email="A@x.test", email_normalized="a@x.test"),
    ]
    with pytest.raises(IntegrityError):
        await insert_rows(Contact, rows, connections.get("default"))
    assert await Contact.all().count() == 0


async def test_unknown_fields_are_refused(db: Settings) -> None:
    with pytest.raises(ValueError, match="no insertable field"):
        await insert_rows(Contact, [dict(name="a", nickname="b")], connections.get("default"))


async def test_a_value_over_its_max_length_is_refused_before_the_database(db: Settings) -> None:
    row = dict(name="x" * 201, email="a@x.test", email_normalized="a@x.test")
    with pytest.raises(Exception, match="200"):
        await insert_rows(Contact, [row], connections.get("default"))


def test_a_fast_built_row_equals_what_the_model_constructor_makes() -> None:
    values = dict(number="TT1", title="t", description="d", source_message_id="m@x")
    fast, slow = new_row(Ticket, **values), Ticket(**values)
    assert fast.__dict__ == slow.__dict__
    assert fast.status == TicketStatus.OPEN and fast.priority == TicketPriority.NORMAL
