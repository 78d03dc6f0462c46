"""The package's error hierarchy: everything bad input can raise is a `RuleError`.

`RuleError(ValueError)` -> `RuleSyntaxError` (text that does not parse; always has a
position) and `RuleValidationError` (a well-formed rule that means nothing: unknown field,
operator not valid for the field, bad regex, wrong value type; always has a JSON `path`, and
a text position too when the rule came from text). `str()` of an error with a position shows
the offending line with a caret under the mistake, as jmespath and lark do.
"""
from __future__ import annotations

# A pasted megabyte on one line must not become a megabyte error message.
_WINDOW = 60


class RuleError(ValueError):
    """Base class of every error raised for a bad rule (text, JSON or AST)."""

    def __init__(
        self,
        message: str,
        *,
        text: str | None = None,
        offset: int | None = None,
        end: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.text = text
        self.offset = offset
        self.end = end if end is not None else offset
        self.line: int | None = None
        self.column: int | None = None
        if text is not None and offset is not None:
            self.line = text.count("\n", 0, offset) + 1
            self.column = offset - (text.rfind("\n", 0, offset) + 1) + 1

    def caret(self) -> str:
        """The offending line (clipped around the mistake) with `^^^` under it, or ""."""
        if self.text is None or self.offset is None or self.column is None:
            return ""
        start = self.text.rfind("\n", 0, self.offset) + 1
        stop = self.text.find("\n", self.offset)
        line = self.text[start : stop if stop >= 0 else len(self.text)]
        col = self.column - 1
        width = max(1, min((self.end or self.offset) - self.offset, len(line) - col))
        left = max(0, col - _WINDOW)
        shown = line[left : col + width + _WINDOW]
        prefix = "..." if left else ""
        suffix = "..." if col + width + _WINDOW < len(line) else ""
        pad = " " * (len(prefix) + col - left)
        return f"  {prefix}{shown}{suffix}\n  {pad}{'^' * min(width, 2 * _WINDOW)}"

    def where(self) -> str:
        """"line L, column C" or "" when the error has no text position."""
        if self.line is None:
            return ""
        return f"line {self.line}, column {self.column}"

    def __str__(self) -> str:
        head = self.message
        if self.line is not None:
            head = f"{head} (at {self.where()})"
        caret = self.caret()
        return f"{head}\n{caret}" if caret else head


class RuleSyntaxError(RuleError):
    """The text (or JSON text) does not parse. `line`, `column` (1-based) and `offset` are set."""

    def __init__(self, message: str, *, text: str, offset: int, end: int | None = None) -> None:
        super().__init__(message, text=text, offset=offset, end=end)


class RuleValidationError(RuleError):
    """The rule is well-formed but invalid. `path` is a JSONPath into the stored form,
    e.g. `$.and[1].op`; `offset`/`line`/`column` are set when the rule was parsed from text."""

    def __init__(
        self,
        message: str,
        *,
        path: str = "$",
        text: str | None = None,
        offset: int | None = None,
        end: int | None = None,
    ) -> None:
        super().__init__(message, text=text, offset=offset, end=end)
        self.path = path

    def __str__(self) -> str:
        base = super().__str__()
        head, sep, rest = base.partition("\n")
        return f"{head} [{self.path}]{sep}{rest}"
