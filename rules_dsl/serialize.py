"""Stored form: AST <-> compact, versioned JSON (what the DB keeps and a rule builder edits).

    {"v":1,"and":[{"field":"subject","op":"contains","value":"invoice"},
                  {"or":[{"field":"from","op":"ends_with","value":"@acme.com"},
                         {"field":"header","header":"X-Priority","op":"equals","value":"1"}]},
                  {"not":{"field":"body","op":"matches","value":"unsubscribe"}}]}

A condition is {"field", "op", "value"?, "header"? (header field), "all": true?
(every value must match), "case": true? (case-sensitive)}; defaults are omitted, so
`dumps(loads(s)) == s` for anything `dumps` wrote. Sizes are bytes, dates ISO strings,
regexes plain pattern strings, `is any of` values lists of strings.
"""
from __future__ import annotations

import json
from typing import Any, NoReturn

from .ast import And, Condition, Node, Not, Or, Rule, Value
from .catalog import MAX_DEPTH, MAX_JSON_BYTES, MAX_NODES, VERSION
from .errors import RuleSyntaxError, RuleValidationError
from .validate import validate

_CONDITION_KEYS = frozenset({"field", "header", "op", "value", "all", "case"})
_GROUP_KEYS = ("and", "or", "not")


def to_json(rule: Rule | Node) -> dict[str, Any]:
    """The stored form as a dict: `{"v": 1, ...root node...}`."""
    root = rule.root if isinstance(rule, Rule) else rule
    return {"v": VERSION, **_node_json(root)}


def dumps(rule: Rule | Node) -> str:
    """The stored form as compact JSON text (no spaces, UTF-8 kept readable)."""
    return json.dumps(to_json(rule), separators=(",", ":"), ensure_ascii=False)


def _node_json(node: Node) -> dict[str, Any]:
    if isinstance(node, And):
        return {"and": [_node_json(c) for c in node.children]}
    if isinstance(node, Or):
        return {"or": [_node_json(c) for c in node.children]}
    if isinstance(node, Not):
        return {"not": _node_json(node.child)}
    out: dict[str, Any] = {"field": node.field}
    if node.header is not None:
        out["header"] = node.header
    out["op"] = node.op
    if node.value is not None:
        out["value"] = list(node.value) if isinstance(node.value, tuple) else node.value
    if node.every:
        out["all"] = True
    if node.case:
        out["case"] = True
    return out


def loads(data: str | bytes | dict[str, Any]) -> Rule:
    """Read the stored form (JSON text or an already-decoded dict) and validate it.

    Raises RuleSyntaxError for malformed JSON text and RuleValidationError (with a `path`
    such as `$.and[1].op`) for a well-formed document that is not a valid rule.
    """
    if isinstance(data, (str, bytes)):
        data = _decode(data)
    if not isinstance(data, dict):
        raise RuleValidationError(f"a rule must be a JSON object, not {type(data).__name__}")
    version = data.get("v")
    if version != VERSION or isinstance(version, bool):
        raise RuleValidationError(f"unsupported rule version {version!r} (expected {VERSION})",
                                  path="$.v")
    body = {k: v for k, v in data.items() if k != "v"}
    rule = Rule(_Reader().node(body, "$", 1))
    validate(rule)
    return rule


def _decode(data: str | bytes) -> Any:
    if len(data) > MAX_JSON_BYTES:
        raise RuleValidationError(f"rule JSON is longer than {MAX_JSON_BYTES // 1024} KiB")
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleSyntaxError(f"invalid JSON: {exc.msg}", text=text, offset=exc.pos) from None
    except RecursionError:
        raise RuleValidationError(f"rule is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer with more than 4300 digits
        raise RuleValidationError(f"invalid JSON: {exc}") from None


class _Reader:
    """Dict -> AST with JSON paths; bounded depth and node count before any recursion."""

    def __init__(self) -> None:
        self.count = 0

    def fail(self, message: str, path: str) -> NoReturn:
        raise RuleValidationError(message, path=path)

    def node(self, obj: Any, path: str, depth: int) -> Node:
        if not isinstance(obj, dict):
            self.fail(f"expected a condition or group object, got {type(obj).__name__}", path)
        if depth > MAX_DEPTH:
            self.fail(f"rule is nested deeper than {MAX_DEPTH} levels", path)
        self.count += 1
        if self.count > MAX_NODES:
            self.fail(f"rule has more than {MAX_NODES} conditions and groups", path)
        groups = [k for k in _GROUP_KEYS if k in obj]
        if not groups:
            return self.condition(obj, path)
        key = groups[0]
        extra = sorted(k for k in obj if k != key)
        if extra:
            self.fail(f"unexpected key {extra[0]!r} beside {key!r}", f"{path}.{extra[0]}")
        if key == "not":
            return Not(self.node(obj["not"], f"{path}.not", depth + 1))
        items = obj[key]
        if not isinstance(items, list):
            self.fail(f"'{key}' must be a list of conditions", f"{path}.{key}")
        if not items:
            self.fail(f"empty '{key}' group (a group needs at least one condition)",
                      f"{path}.{key}")
        children = tuple(self.node(c, f"{path}.{key}[{i}]", depth + 1) for i, c in enumerate(items))
        return And(children) if key == "and" else Or(children)

    def condition(self, obj: dict[str, Any], path: str) -> Condition:
        unknown = sorted(k for k in obj if k not in _CONDITION_KEYS)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r}", f"{path}.{unknown[0]}")
        for key in ("field", "op"):
            if not isinstance(obj.get(key), str):
                self.fail(f"'{key}' must be a string", f"{path}.{key}")
        header = obj.get("header")
        if header is not None and not isinstance(header, str):
            self.fail("'header' must be a string", f"{path}.header")
        for key in ("all", "case"):
            if not isinstance(obj.get(key, False), bool):
                self.fail(f"'{key}' must be true or false", f"{path}.{key}")
        return Condition(obj["field"], obj["op"], self.value(obj.get("value"), path), header,
                         obj.get("all", False), obj.get("case", False))

    def value(self, value: Any, path: str) -> Value:
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    self.fail("list items must be strings", f"{path}.value[{i}]")
            return tuple(value)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.fail(f"value must be a string, a whole number or a list of strings, got "
                  f"{type(value).__name__}", f"{path}.value")
