"""Action configuration validation: the errors name the key a person must fix."""

from __future__ import annotations

import pytest

from mailscanner.scanning.actions.registry import (
    ACTIONS,
    ActionConfigError,
    validate_action,
    validate_actions,
)


def test_every_documented_action_is_registered() -> None:
    assert set(ACTIONS) == {
        "create_contact",
        "create_or_update_ticket",
        "move_to_folder",
        "delete_message",
    }


def test_valid_configs_come_back_normalized() -> None:
    assert validate_action({"type": "move_to_folder", "folder": " Done "}) == {
        "type": "move_to_folder",
        "folder": "Done",
    }
    assert validate_action({"type": "create_or_update_ticket", "set": {"status": "open"}}) == {
        "type": "create_or_update_ticket",
        "set": {"status": "open"},
        "set_on_update": {},
        "reopen": False,
        "match_subject": False,
    }


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"folder": "x"}, "type", "unknown action type"),
        ({"type": "teleport"}, "type", "create_contact"),
        ({"type": "move_to_folder"}, "folder", "required"),
        ({"type": "delete_message", "folder": "x"}, "folder", "unknown setting"),
        (
            {"type": "create_or_update_ticket", "set": {"status": "lost"}},
            "set.status",
            "open, in_progress",
        ),
        (
            {"type": "create_or_update_ticket", "set": {"priority": 5}},
            "set.priority",
            "must be one of",
        ),
        ({"type": "create_or_update_ticket", "set": {"title": "x"}}, "set.title", "not a settable"),
        (
            {"type": "create_or_update_ticket", "set": {"assignee_id": "bob"}},
            "set.assignee_id",
            "user id",
        ),
        ({"type": "create_or_update_ticket", "regex": "(a"}, "regex", "not a valid RE2"),
        ({"type": "create_or_update_ticket", "regex": "(a)(b)"}, "regex", "at most one"),
        ({"type": "create_or_update_ticket", "regex": "(?<=x)1"}, "regex", "not a valid RE2"),
        ({"type": "create_or_update_ticket", "reopen": "yes"}, "reopen", "true or false"),
    ],
)
def test_bad_configs_raise_an_error_naming_the_key(
    config: dict[str, object], key: str, words: str
) -> None:
    with pytest.raises(ActionConfigError) as info:
        validate_action(config)
    assert info.value.key == key
    assert words in str(info.value)


def test_a_list_error_names_the_position() -> None:
    with pytest.raises(ActionConfigError) as info:
        validate_actions([{"type": "create_contact"}, {"type": "move_to_folder", "folder": ""}])
    assert info.value.key == "actions[1].folder"
