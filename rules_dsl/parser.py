"""Text form, stage 2: tokens -> AST (recursive descent; `parse()` also validates).

Grammar (keywords are case-insensitive; `and` binds tighter than `or`; `not` tightest):

    rule      := or EOF
    or        := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := "not" unary | "(" or ")" | condition
    condition := "has" "attachment"
               | ["all" | "any"] field operator ["case"] [value]
    field     := "header" STRING | WORD          (subject, from, to, size, ...)
    operator  := "contains" | "not contains" | "equals" | "begins with" | "<=" | ...
    value     := STRING | /REGEX/flags | NUMBER[unit] | DATE | "[" STRING ("," STRING)* "]"

Steps: (1) size limit, (2) tokenize, (3) descend, counting depth and nodes so that hostile
input gives a RuleError instead of a RecursionError, (4) validate field/operator/value
combinations with the source text, so errors point at the mistake with a caret.
"""
from __future__ import annotations

from collections.abc import Callable

from .ast import And, Condition, Node, Not, Or, Rule, Span, Value
from .catalog import (
    FIELDS,
    MAX_DEPTH,
    MAX_NODES,
    MAX_TEXT_BYTES,
    OPERATORS,
    REGEX_OPS,
    VALUELESS_OPS,
)
from .errors import RuleSyntaxError, RuleValidationError
from .lexer import Token, tokenize
from .validate import validate

# Operator phrases as token sequences, longest first so "not contains" beats "not".
_PHRASES: list[tuple[tuple[str, ...], str]] = sorted(
    ((tuple(o.phrase.split()), o.name) for o in OPERATORS.values()),
    key=lambda item: -len(item[0]),
)
_VALUE_KINDS = ("string", "regex", "number", "date", "[")


def parse(text: str) -> Rule:
    """Parse the text form into a validated `Rule`.

    Example: `parse('subject contains "invoice" and not has attachment')`.
    Raises RuleSyntaxError (with line/column and a caret) or RuleValidationError.
    """
    rule = parse_unvalidated(text)
    validate(rule)
    return rule


def parse_unvalidated(text: str) -> Rule:
    """Parse without semantic validation (grammar and limits only)."""
    if not isinstance(text, str):
        raise RuleValidationError(f"rule text must be a string, not {type(text).__name__}")
    if len(text) > MAX_TEXT_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise RuleValidationError(
            f"rule text is longer than {MAX_TEXT_BYTES // 1024} KiB",
            text=text, offset=min(len(text) - 1, MAX_TEXT_BYTES),
        )
    return Rule(_Parser(text).rule(), source=text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.nodes = 0

    # -- helpers -------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.index]

    def _advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def _is_word(self, *words: str, ahead: int = 0) -> bool:
        token = self.tokens[min(self.index + ahead, len(self.tokens) - 1)]
        return token.kind == "word" and token.value in words

    def _fail(self, expected: str, token: Token | None = None) -> RuleSyntaxError:
        token = token or self.tok
        found = "end of rule" if token.kind == "eof" else repr(self.text[token.start:token.end])
        return RuleSyntaxError(f"expected {expected}, found {found}", text=self.text,
                               offset=token.start, end=token.end)

    def _count(self, start: int, end: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise RuleValidationError(f"rule has more than {MAX_NODES} conditions and groups",
                                      text=self.text, offset=start, end=end)

    def _enter(self, token: Token) -> None:
        # Bounds the recursion; the validator then enforces MAX_DEPTH on the tree itself
        # (a `not (` pair is two levels here but one node there).
        self.depth += 1
        if self.depth > 2 * MAX_DEPTH:
            raise RuleValidationError(f"rule is nested deeper than {MAX_DEPTH} levels",
                                      text=self.text, offset=token.start, end=token.end)

    # -- grammar -------------------------------------------------------------------------
    def rule(self) -> Node:
        if self.tok.kind == "eof":
            raise self._fail("a condition")
        node = self._or()
        if self.tok.kind != "eof":
            raise self._fail("'and', 'or' or end of rule")
        return node

    def _or(self) -> Node:
        return self._group("or", self._and, Or)

    def _and(self) -> Node:
        return self._group("and", self._unary, And)

    def _group(self, word: str, operand: Callable[[], Node], cls: type[And] | type[Or]) -> Node:
        first: Node = operand()
        children = [first]
        while self._is_word(word):
            self._advance()
            children.append(operand())
        if len(children) == 1:
            return first
        span = (_span(children[0])[0], _span(children[-1])[1])
        self._count(*span)
        return cls(tuple(children), spans={"": span})

    def _unary(self) -> Node:
        token = self.tok
        if self._is_word("not"):
            self._advance()
            self._enter(token)
            child = self._unary()
            self.depth -= 1
            span = (token.start, _span(child)[1])
            self._count(*span)
            return Not(child, spans={"": span})
        if token.kind == "(":
            self._advance()
            self._enter(token)
            node = self._or()
            self.depth -= 1
            if self.tok.kind != ")":
                raise self._fail("')' to close the group opened at column "
                                 f"{token.start - self.text.rfind(chr(10), 0, token.start)}")
            self._advance()
            return node
        return self._condition()

    def _condition(self) -> Condition:
        first = self.tok
        if self._is_word("has") and self._is_word("attachment", ahead=1):
            self._advance()
            end = self._advance().end
            self._count(first.start, end)
            span = (first.start, end)
            return Condition("has_attachment", "is_true", spans={"": span, "field": span})
        spans: dict[str, Span] = {}
        every = False
        if self._is_word("all", "any"):
            every = self._advance().value == "all"
            spans["all"] = (first.start, first.end)
        field, header = self._field(spans)
        info = FIELDS.get(field)
        if info is not None and info.choices and self._is_word("is"):
            sugar = self._choice_is(field, spans, first.start)
            if sugar is not None:
                return sugar
        op = self._operator(spans)
        case = False
        if self._is_word("case"):
            token = self._advance()
            case, spans["case"] = True, (token.start, token.end)
        value: Value = None
        if op not in VALUELESS_OPS:
            value, op_value_span = self._value(op, case)
            spans["value"] = op_value_span
        end = self.tokens[self.index - 1].end
        spans[""] = (first.start, end)
        self._count(first.start, end)
        return Condition(field, op, value, header, every, case, spans=spans)

    def _choice_is(self, field: str, spans: dict[str, Span], start: int) -> Condition | None:
        """`kind is feedback` / `kind is not bounce`: a bare choice word after `is`, read as
        `equals` / `not equals` (printed in that canonical form)."""
        negate = self._is_word("not", ahead=1)
        ahead = 2 if negate else 1
        word = self.tokens[self.index + ahead] if self.index + ahead < len(self.tokens) else None
        if word is None or word.kind != "word" or word.value in ("any", "none", "empty"):
            return None
        is_token = self.tok
        self.index += ahead + 1
        spans["op"] = (is_token.start, self.tokens[self.index - 2].end)
        spans["value"] = (word.start, word.end)
        spans[""] = (start, word.end)
        self._count(start, word.end)
        return Condition(field, "not_equals" if negate else "equals", str(word.value),
                         spans=spans)

    def _field(self, spans: dict[str, Span]) -> tuple[str, str | None]:
        token = self.tok
        if token.kind != "word":
            raise self._fail("a field name (subject, from, to, body, header \"X-Name\", ...)")
        self._advance()
        spans["field"] = (token.start, token.end)
        if token.value != "header":
            return str(token.value), None
        name = self.tok
        if name.kind != "string":
            raise self._fail('a quoted header name, e.g. header "X-Priority"')
        self._advance()
        spans["header"] = (name.start, name.end)
        return "header", str(name.value)

    def _operator(self, spans: dict[str, Span]) -> str:
        start = self.tok
        for words, name in _PHRASES:
            window = self.tokens[self.index : self.index + len(words)]
            if len(window) == len(words) and all(
                t.value == w and t.kind in ("word", w) for t, w in zip(window, words, strict=True)
            ):
                self.index += len(words)
                spans["op"] = (start.start, window[-1].end)
                return name
        raise self._fail("an operator (contains, equals, begins with, ends with, matches, "
                         "is any of, is empty, <, >, before, after, ...)")

    def _value(self, op: str, case: bool) -> tuple[Value, Span]:
        token = self.tok
        if token.kind not in _VALUE_KINDS:
            raise self._fail("a value (\"text\", /regex/, 5MB, 2026-01-31 or [\"a\", \"b\"])")
        if token.kind == "[":
            return self._list()
        self._advance()
        if token.kind != "regex":
            return token.value, (token.start, token.end)
        if op not in REGEX_OPS:
            raise RuleSyntaxError("a /regex/ value needs 'matches' or 'not matches'",
                                  text=self.text, offset=token.start, end=token.end)
        if case and "i" in token.flags:
            raise RuleSyntaxError("'case' contradicts the /i flag", text=self.text,
                                  offset=token.start, end=token.end)
        inline = token.flags.replace("i", "")
        prefix = f"(?{inline})" if inline else ""
        return prefix + str(token.value), (token.start, token.end)

    def _list(self) -> tuple[Value, Span]:
        start = self._advance().start
        items: list[str] = []
        while self.tok.kind == "string":
            items.append(str(self._advance().value))
            if self.tok.kind != ",":
                break
            self._advance()
        if self.tok.kind != "]":
            raise self._fail("a quoted string or ']'")
        end = self._advance().end
        return tuple(items), (start, end)


def _span(node: Node) -> Span:
    return node.spans.get("", (0, 0))
