"""GraphQL `dryRunScanner`: the answer's shape, and every kind of bad input as a typed error."""

from __future__ import annotations

import pytest

from mailscanner.models import MessageLog, Ticket
from mailscanner.settings import Settings

from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner
from .conftest import Api

pytestmark = pytest.mark.integration

DRY_RUN = """
query ($id: ID!, $folder: String, $limit: Int, $messages: DryRunPick, $conditionText: String,
       $condition: ConditionInput, $ruleIds: [ID!]) {
  dryRunScanner(id: $id, folder: $folder, limit: $limit, messages: $messages,
                conditionText: $conditionText, condition: $condition, ruleIds: $ruleIds) {
    __typename
    ... on DryRun {
      folder folderMessages nextScan notes
      messages {
        uid subject from kind wouldScan alreadyProcessed outcome skippedReason markRead
        arrivedAt
        matchedRule { ruleId name matches }
        rules { ruleId matches explanation }
        draft { matches explanation }
        actions { type ruleId outcome description }
      }
    }
    ... on ValidationError { errors { field code message line column caret } }
    ... on NotFoundError { message }
    ... on MailConnectionError { code message }
  }
}"""


async def test_a_dry_run_over_graphql_says_what_each_message_would_get(
    db: Settings, api: Api, imap_user: ImapUser
) -> None:
    # given
    imap_user.append(
        "INBOX",
        [
            mail("Printer on fire", sender="Dave <dave@example.org>"),
            mail("Out of office", headers={"Auto-Submitted": "auto-replied"}),
        ],
    )
    scanner = await make_scanner(imap_user)
    rule = await add_rule(
        scanner, 'subject contains "printer" or size > 0',
        [{"type": "create_contact"}, TICKET, {"type": "move_to_folder", "folder": "Done"}],
    )
    # when
    data = await api.gql(
        DRY_RUN, {"id": str(scanner.id), "conditionText": 'from ends with "@example.org"'}
    )
    # then
    result = data["dryRunScanner"]
    assert result["__typename"] == "DryRun", result
    assert result["folderMessages"] == 2 and result["nextScan"] == 2
    fire, away = result["messages"]
    assert fire["from"] == "Dave <dave@example.org>" and fire["outcome"] == "PROCESSED"
    assert fire["matchedRule"] == {"ruleId": str(rule.id), "name": rule.name, "matches": True}
    tree = fire["rules"][0]["explanation"]
    assert tree["kind"] == "or" and tree["children"][0]["matched"] == ["Printer on fire"]
    assert fire["draft"]["matches"] and fire["draft"]["explanation"]["matched"]
    assert [a["description"] for a in fire["actions"]] == [
        "would create contact dave@example.org",
        "would create ticket TT1",
        "would move to Done (the folder would be created)",
    ]
    assert away["kind"] == "auto_reply" and away["outcome"] == "SKIPPED"
    assert away["skippedReason"].startswith("auto-reply") and not away["draft"]["matches"]
    assert [a["outcome"] for a in away["actions"]] == ["skipped", "skipped", "pending"]
    # and nothing happened
    assert not await Ticket.exists() and not await MessageLog.exists()
    assert imap_user.uids("INBOX") == [1, 2] and imap_user.uids("Done") == []
    assert all(SEEN not in f for f in imap_user.flags("INBOX").values())


async def test_bad_input_comes_back_as_typed_errors_naming_the_argument(
    db: Settings, api: Api, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", [mail("hello")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET])
    other = await make_scanner(imap_user)
    foreign = await add_rule(other, "size > 0", [TICKET])
    sid = str(scanner.id)

    async def errors(**variables: object) -> list[dict[str, object]]:
        result = (await api.gql(DRY_RUN, {"id": sid, **variables}))["dryRunScanner"]
        assert result["__typename"] == "ValidationError", result
        errs: list[dict[str, object]] = result["errors"]
        return errs

    # an unknown folder: the mailbox is asked
    (folder,) = await errors(folder="Nope")
    assert folder["field"] == "folder" and folder["code"] == "INVALID_FOLDER"
    assert "Nope" in str(folder["message"])
    # a limit out of range
    for limit in (0, 501):
        (error,) = await errors(limit=limit)
        assert error["field"] == "limit" and "500" in str(error["message"])
    # a condition with a mistake: its position and a caret under it
    (syntax,) = await errors(conditionText='subject contians "x"')
    assert syntax["field"] == "conditionText" and syntax["code"] == "INVALID_RULE"
    assert syntax["line"] == 1 and syntax["column"] == 9
    assert str(syntax["caret"]).endswith("        ^^^^^^^^")
    (tree,) = await errors(condition={"field": "subject", "op": "shouts", "value": "x"})
    assert str(tree["field"]).startswith("condition") and tree["code"] == "INVALID_RULE"
    # a rule of another scanner, and a malformed id
    found = sorted(await errors(ruleIds=[str(foreign.id), "x"]), key=lambda e: str(e["field"]))
    assert [(e["field"], e["code"]) for e in found] == [
        ("ruleIds[0]", "NOT_FOUND"),
        ("ruleIds[1]", "INVALID_ID"),
    ]
    assert "another scanner" in str(found[0]["message"])
    # an unknown scanner
    missing = (await api.gql(DRY_RUN, {"id": "999999"}))["dryRunScanner"]
    assert missing["__typename"] == "NotFoundError"
    # agents may not
    response = await api.post(DRY_RUN, {"id": sid}, token="agent")
    assert response.json()["errors"]


async def test_an_unreachable_mailbox_is_a_mail_connection_error(db: Settings, api: Api,
                                                                 imap_user: ImapUser) -> None:
    scanner = await make_scanner(imap_user, password="wrong")
    await add_rule(scanner, "size > 0", [TICKET])
    result = (await api.gql(DRY_RUN, {"id": str(scanner.id)}))["dryRunScanner"]
    assert result["__typename"] == "MailConnectionError" and result["code"] == "LOGIN_REJECTED"
