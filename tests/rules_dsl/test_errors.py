"""Error objects: hierarchy, positions, caret rendering and JSON paths."""
from __future__ import annotations

from typing import Any, cast

import pytest

from mailscanner.rules_dsl import (
    RuleError,
    RuleSyntaxError,
    RuleValidationError,
    loads,
    parse,
    parse_any,
)


def test_hierarchy_is_rooted_in_value_error() -> None:
    assert issubclass(RuleError, ValueError)
    assert issubclass(RuleSyntaxError, RuleError)
    assert issubclass(RuleValidationError, RuleError)


def test_syntax_error_has_line_column_offset_and_a_caret() -> None:
    text = 'subject contains "x"\n  and from containz "y"'
    with pytest.raises(RuleSyntaxError) as caught:
        parse(text)
    error = caught.value
    assert (error.line, error.column, error.offset) == (2, 12, 32)
    assert str(error).splitlines() == [
        "expected an operator (contains, equals, begins with, ends with, matches, is any of, "
        "is empty, <, >, before, after, ...), found 'containz' (at line 2, column 12)",
        '    and from containz "y"',
        "             ^^^^^^^^",
    ]


def test_validation_error_from_text_has_path_and_position() -> None:
    with pytest.raises(RuleValidationError) as caught:
        parse('subject contains "x" and size contains "y"')
    error = caught.value
    assert error.path == "$.and[1].op"
    assert (error.line, error.column) == (1, 31)
    assert str(error).endswith("  subject contains \"x\" and size contains \"y\"\n"
                               "                                ^^^^^^^^")


def test_validation_error_from_json_has_path_only() -> None:
    with pytest.raises(RuleValidationError) as caught:
        loads('{"v":1,"or":[{"field":"subject","op":"contains","value":"x"},{"and":[]}]}')
    assert caught.value.path == "$.or[1].and"
    assert caught.value.line is None
    assert "[$.or[1].and]" in str(caught.value)


def test_json_syntax_error_points_into_the_json_text() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_any('{"v":1,"field":"subject",}')
    assert caught.value.offset == 25
    assert "^" in str(caught.value)


def test_bad_regex_message_comes_from_re2() -> None:
    with pytest.raises(RuleValidationError, match="missing \\)") as caught:
        parse("body matches /(abc/")
    assert caught.value.path == "$.value"
    assert caught.value.column == 14


def test_caret_on_a_long_line_is_clipped_around_the_mistake() -> None:
    text = " or ".join(['subject contains "x"'] * 300) + " or size ~ 1"
    with pytest.raises(RuleSyntaxError) as caught:
        parse(text)
    rendered = str(caught.value)
    assert len(rendered) < 400
    line, caret = rendered.splitlines()[1:]
    assert line[caret.index("^")] == "~"


def test_non_string_input_is_a_rule_error() -> None:
    with pytest.raises(RuleError):
        parse(cast(Any, 42))
    with pytest.raises(RuleError):
        parse_any(cast(Any, [1]))
