from __future__ import annotations

from typing import Any

from mailscanner import models

from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import make_scanner
from .conftest import Api

CREATE_SCANNER = """
mutation { createScanner(input: {
    name: "Support", host: "imap.example.com", username: "s@example.com"}) {
  ... on ScannerPayload { scanner { id } } } }"""

CREATE_RULE = """
mutation($sid: ID!, $input: RuleInput!) {
  createRule(scannerId: $sid, input: $input) {
    __typename
    ... on RulePayload { rule { id name sequence folders conditionText condition actions } }
    ... on ValidationError { errors { field code message line column caret } }
  }
}"""

REORDER = """
mutation($sid: ID!, $ids: [ID!]!) {
  reorderRules(scannerId: $sid, ruleIds: $ids) {
    __typename
    ... on RulesPayload { rules { name sequence } }
    ... on ValidationError { errors { field code } }
  }
}"""

SCANNER_RULES = "query($id: ID!) { scanner(id: $id) { rules { name } } }"
TICKET_ACTION = [{"type": "create_contact"}, {"type": "create_or_update_ticket"}]


async def _scanner(api: Api) -> str:
    data = await api.gql(CREATE_SCANNER)
    return str(data["createScanner"]["scanner"]["id"])


async def _rule(api: Api, sid: str, **input: Any) -> dict[str, Any]:
    base = {"name": "r", "folders": ["INBOX"], "actions": TICKET_ACTION}
    data = await api.gql(CREATE_RULE, {"sid": sid, "input": {**base, **input}})
    result: dict[str, Any] = data["createRule"]
    return result


async def test_a_rule_written_as_text_comes_back_in_both_forms(api: Api) -> None:
    sid = await _scanner(api)
    result = await _rule(
        api, sid, conditionText='SUBJECT contains "invoice" AND from ends with "@acme.com"'
    )
    rule = result["rule"]
    assert rule["conditionText"] == 'subject contains "invoice" and from ends with "@acme.com"'
    assert rule["condition"] == {"v": 1, "and": [
        {"field": "subject", "op": "contains", "value": "invoice"},
        {"field": "from", "op": "ends_with", "value": "@acme.com"}]}
    assert rule["sequence"] == 1


async def test_a_rule_built_as_a_tree_gives_the_same_stored_form(api: Api) -> None:
    sid = await _scanner(api)
    tree = {
        "and": [
            {"field": "subject", "op": "contains", "value": "invoice"},
            {
                "or": [
                    {"field": "from", "op": "ends_with", "value": "@acme.com"},
                    {"field": "header", "header": "X-Priority", "op": "equals", "value": "1"},
                ]
            },
        ]
    }
    result = await _rule(api, sid, condition=tree)
    assert result["rule"]["conditionText"] == (
        'subject contains "invoice" and '
        '(from ends with "@acme.com" or header "X-Priority" equals "1")'
    )


async def test_a_syntax_error_names_line_column_and_shows_a_caret(api: Api) -> None:
    sid = await _scanner(api)
    result = await _rule(api, sid, conditionText='subject contains "x" and')
    assert result["__typename"] == "ValidationError"
    error = result["errors"][0]
    assert error["field"] == "input.conditionText"
    assert error["code"] == "INVALID_RULE"
    assert (error["line"], error["column"]) == (1, 25)
    assert error["caret"].splitlines()[-1].strip() == "^"


async def test_a_bad_tree_names_the_path_of_the_mistake(api: Api) -> None:
    sid = await _scanner(api)
    tree = {"and": [{"field": "subject", "op": "contains", "value": "a"},
                    {"field": "subject", "op": "frobnicates", "value": "b"}]}
    result = await _rule(api, sid, condition=tree)
    assert result["__typename"] == "ValidationError"
    assert result["errors"][0]["field"] == "input.condition.and[1].op"


async def test_an_unknown_action_type_is_an_error_naming_the_action(api: Api) -> None:
    sid = await _scanner(api)
    result = await _rule(
        api, sid, conditionText='subject contains "x"', actions=[{"type": "explode"}]
    )
    assert result["__typename"] == "ValidationError"
    assert result["errors"][0]["field"] == "input.actions[0].type"
    assert "unknown action type 'explode'" in result["errors"][0]["message"]
    assert result["errors"][0]["code"] == "INVALID_ACTION"


async def test_rules_keep_the_order_set_by_reorder(api: Api) -> None:
    sid = await _scanner(api)
    ids = [
        (await _rule(api, sid, name=n, conditionText='subject contains "x"'))["rule"]["id"]
        for n in "abc"
    ]
    data = await api.gql(REORDER, {"sid": sid, "ids": [ids[2], ids[0], ids[1]]})
    assert [r["name"] for r in data["reorderRules"]["rules"]] == ["c", "a", "b"]
    listed = await api.gql(SCANNER_RULES, {"id": sid})
    assert [r["name"] for r in listed["scanner"]["rules"]] == ["c", "a", "b"]
    partial = await api.gql(REORDER, {"sid": sid, "ids": [ids[0]]})
    assert partial["reorderRules"]["__typename"] == "ValidationError"


async def test_check_rule_validates_without_saving(api: Api) -> None:
    data = await api.gql(
        '{ checkRule(conditionText: "size > 5MB") { __typename ... on RuleCheck { text json } } }'
    )
    assert data["checkRule"] == {"__typename": "RuleCheck", "text": "size > 5MB",
                                 "json": {"v": 1, "field": "size", "op": "gt", "value": 5242880}}


EXPLAIN = """
query($raw: String!, $text: String) {
  explainRule(rawEmail: $raw, conditionText: $text) {
    __typename
    ... on RuleExplanation { matches tree }
    ... on ValidationError { errors { field code } }
  }
}"""

RAW = ("From: Wile E. Coyote <wile@acme.com>\r\nTo: support@example.com\r\n"
       "Subject: Invoice TT42 overdue\r\n\r\nPlease pay.\r\n")


async def test_explain_shows_which_condition_failed_and_the_captured_ticket_number(
    api: Api,
) -> None:
    text = 'subject matches /(TT\\d+)/ and from ends with "@example.org"'
    data = await api.gql(EXPLAIN, {"raw": RAW, "text": text})
    result = data["explainRule"]
    assert result["matches"] is False
    regex, sender = result["tree"]["children"]
    assert regex["result"] is True and regex["groups"] == ["TT42"]
    assert sender["result"] is False and sender["values"] == ["Wile E. Coyote <wile@acme.com>"]


async def test_a_bad_action_setting_names_its_position_and_key(api: Api) -> None:
    sid = await _scanner(api)
    actions = [{"type": "create_or_update_ticket", "set": {"status": "open"}},
               {"type": "move_to_folder"}]
    result = await _rule(api, sid, conditionText='subject contains "x"', actions=actions)
    assert result["__typename"] == "ValidationError"
    assert [e["field"] for e in result["errors"]] == ["input.actions[1].folder"]


async def test_folders_are_checked_against_the_live_mailbox(api: Api, imap_user: ImapUser) -> None:
    # given: a scanner on the test Dovecot, whose mailbox has INBOX and Archive/2026
    with imap_user.client() as client:
        client.create_folder("Archive/2026")
    scanner = await make_scanner(imap_user)
    # when / then
    bad = await _rule(api, str(scanner.id), conditionText='subject contains "x"',
                      folders=["INBOX", "Archive/2025"])
    assert bad["__typename"] == "ValidationError"
    assert [(e["field"], e["code"]) for e in bad["errors"]] == [
        ("input.folders[1]", "INVALID_FOLDER")
    ]
    assert "Archive/2026" in bad["errors"][0]["message"]
    good = await _rule(api, str(scanner.id), conditionText='subject contains "x"',
                       folders=["INBOX", "Archive/2026"])
    assert good["rule"]["folders"] == ["INBOX", "Archive/2026"]


RULE_FIELDS = "{ ruleFields { name kind multi choices operators { name phrase } } }"


async def test_rule_fields_list_what_a_rule_builder_needs_including_the_kinds_of_mail(
    api: Api,
) -> None:
    # when a rule-builder UI asks which fields and operators exist
    fields = {f["name"]: f for f in (await api.gql(RULE_FIELDS))["ruleFields"]}
    # then free-form fields come with their operators and no fixed values ...
    assert "contains" in {o["name"] for o in fields["subject"]["operators"]}
    assert fields["subject"]["choices"] == []
    # ... and `kind` lists the values a condition may compare it with
    assert fields["kind"]["kind"] == "choice"
    assert set(fields["kind"]["choices"]) == {
        "normal", "auto_reply", "bounce", "delivery_report", "feedback"
    }


RULES = """
query($sid: ID!) { rules(scannerId: $sid) { name conditionText problem } }"""


async def test_a_rule_assigning_a_user_that_does_not_exist_is_refused_on_that_key(
    api: Api,
) -> None:
    sid = await _scanner(api)
    missing = (await models.User.all().order_by("-id").first()).id + 100  # type: ignore[union-attr]
    ticket = {"type": "create_or_update_ticket", "set": {"assignee_id": missing}}
    result = await _rule(api, sid, conditionText="size > 0", actions=[{"type": "create_contact"},
                                                                     ticket])
    assert result["__typename"] == "ValidationError"
    [error] = result["errors"]
    assert error["field"] == "input.actions[1].set.assignee_id" and error["code"] == "NOT_FOUND"
    assert f"No user with id {missing}" in error["message"]
    existing = (await models.User.first()).id  # type: ignore[union-attr]
    ticket["set"] = {"assignee_id": existing}
    ok = await _rule(api, sid, conditionText="size > 0", actions=[ticket])
    assert ok["__typename"] == "RulePayload"


async def test_a_bad_ticket_regex_reads_as_text_not_bytes(api: Api) -> None:
    sid = await _scanner(api)
    ticket = {"type": "create_or_update_ticket", "regex": "TT(\\d+"}
    result = await _rule(api, sid, conditionText="size > 0", actions=[ticket])
    [error] = result["errors"]
    assert error["field"] == "input.actions[0].regex"
    assert "missing )" in error["message"] and "b'" not in error["message"]


async def test_a_stored_rule_that_no_longer_validates_is_listed_with_its_problem(
    api: Api,
) -> None:
    # given two good rules, then one broken in the database (condition and actions)
    sid = await _scanner(api)
    await _rule(api, sid, name="good", conditionText="size > 0")
    bad = await _rule(api, sid, name="bad condition", conditionText="size > 0")
    worse = await _rule(api, sid, name="bad action", conditionText="size > 0")
    await models.Rule.filter(id=int(bad["rule"]["id"])).update(
        condition={"v": 1, "field": "nonsense", "op": "contains", "value": "x"})
    await models.Rule.filter(id=int(worse["rule"]["id"])).update(
        actions=[{"type": "explode"}])
    # when the rules are listed
    data = await api.gql(RULES, {"sid": sid})
    # then every rule is there; the broken ones say what is wrong
    rules = {r["name"]: r for r in data["rules"]}
    assert rules["good"]["problem"] is None and rules["good"]["conditionText"] == "size > 0"
    assert "condition is not valid" in rules["bad condition"]["problem"]
    assert "nonsense" in rules["bad condition"]["problem"]
    assert "explode" in rules["bad action"]["problem"]
    scanner = await api.gql(SCANNER_RULES, {"id": sid})
    assert len(scanner["scanner"]["rules"]) == 3
