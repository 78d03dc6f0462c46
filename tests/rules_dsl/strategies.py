"""Hypothesis strategies: valid rule ASTs of every shape the language has."""
from __future__ import annotations

from datetime import UTC, timedelta, timezone

from hypothesis import strategies as st

from mailscanner.rules_dsl import FIELDS, And, Condition, Node, Not, Or, value_type
from mailscanner.rules_dsl.catalog import CASE_OPS, VALUELESS_OPS
from mailscanner.rules_dsl.values import RegexError, compile_regex

_ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
_REGEX_ALPHABET = "ab/\\.()[]*+?\n|^$dwsåé-{}1"


def _valid_regex(pattern: str) -> bool:
    try:
        compile_regex(pattern, False)
    except RegexError:
        return False
    return True


texts = st.text(max_size=12)
regexes = st.text(alphabet=_REGEX_ALPHABET, max_size=10).filter(_valid_regex)
dates = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.sampled_from(_ZONES)).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat(timespec="minutes") + "Z"),
)
header_names = st.from_regex(r"[!-9;-~]{1,12}", fullmatch=True)


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    info = FIELDS[draw(st.sampled_from(sorted(FIELDS)))]
    op = draw(st.sampled_from(info.operators))
    kind = value_type(info.name, op)
    words = st.sampled_from(info.choices) if info.choices else texts
    value = draw({
        "none": st.none(),
        "string": words,
        "regex": regexes,
        "list": st.lists(words, min_size=1, max_size=3).map(tuple),
        "size": st.integers(0, 10**13),
        "date": dates,
    }[kind])
    header = draw(header_names) if info.name == "header" else None
    every = draw(st.booleans()) if info.multi and op not in VALUELESS_OPS else False
    case = draw(st.booleans()) if op in CASE_OPS else False
    return Condition(info.name, op, value, header, every, case)


def _groups(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    many = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(many.map(And), many.map(Or), children.map(Not))


nodes: st.SearchStrategy[Node] = st.recursive(conditions(), _groups, max_leaves=10)
