"""Value helpers: RE2 compilation with Unicode \\w, dates and sizes."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailscanner.rules_dsl.values import (
    RegexError,
    compile_regex,
    format_size,
    parse_date,
    unicode_words,
)


@pytest.mark.parametrize(
    ("pattern", "rewritten"),
    [
        (r"\w+", r"[\p{L}\p{N}_]+"),
        (r"\W", r"[^\p{L}\p{N}_]"),
        (r"[\w-]", r"[\p{L}\p{N}_-]"),
        (r"[^\w]", r"[^\p{L}\p{N}_]"),
        (r"[\W]", r"[\W]"),  # no Unicode spelling inside a class; left to RE2 (ASCII)
        (r"\\w", r"\\w"),  # an escaped backslash followed by w
        (r"\Q\w\E\w", r"\Q\w\E[\p{L}\p{N}_]"),
        (r"[[:alpha:]\w]", r"[[:alpha:]\p{L}\p{N}_]"),
        (r"[]\w]", r"[]\p{L}\p{N}_]"),
        (r"abc", r"abc"),
    ],
)
def test_unicode_words_rewrites_only_real_word_classes(pattern: str, rewritten: str) -> None:
    assert unicode_words(pattern) == rewritten
    compile_regex(pattern, False)  # and RE2 accepts the result


def test_word_class_matches_swedish_and_cjk() -> None:
    assert compile_regex(r"^\w+$", True).search("Åsa_Öberg請求書42") is not None
    assert compile_regex(r"\W", True).search("räkning") is None


def test_re2_rejections_become_regex_errors() -> None:
    for bad in ["(?<=a)b", r"(a)\1", "(", "a{2000}", "a\ud800"]:
        with pytest.raises(RegexError):
            compile_regex(bad, False)


def test_dates_are_utc_days_or_instants() -> None:
    day = datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_date("2026-01-31") == (day, datetime(2026, 2, 1, tzinfo=UTC))
    moment = datetime(2026, 1, 31, 8, 0, tzinfo=UTC)
    assert parse_date("2026-01-31T10:00+02:00") == (moment, moment)
    assert parse_date("2026-01-31T08:00") == (moment, moment)
    for bad in ["2026-02-30", "31.01.2026", "2026-01-31t10:00", "2026-01-31T25:00"]:
        with pytest.raises(ValueError):
            parse_date(bad)


@pytest.mark.parametrize(("size", "text"), [(0, "0"), (1023, "1023"), (1024, "1KB"),
                                            (1536 * 1024, "1536KB"), (5 * 1024**2, "5MB"),
                                            (3 * 1024**3, "3GB"), (1025, "1025")])
def test_sizes_print_with_the_largest_exact_unit(size: int, text: str) -> None:
    assert format_size(size) == text
