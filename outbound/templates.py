"""Rendering email templates: `$module-field$` tags plus sandboxed Jinja2.

Tags are rewritten into Jinja variable lookups *before* compiling (only in the template's
literal text, found with Jinja's own lexer), so values from tickets and customers are data and
never template code: a customer who writes `{{ 7*7 }}` gets exactly that back.

Templates render in `ImmutableSandboxedEnvironment` (no `__class__`, no mutation). The text
part renders without escaping; the HTML part with autoescaping. A plain-text body becomes HTML
by escaping its literal text and keeping line breaks; a body that already contains HTML tags
is used as HTML and its text part derived from it. The sandbox is not a resource limit
(stack-notes §6), so this module checks output size and a time budget where it can, and
outside tests every render runs in an isolated process under hard limits (render.py).
"""
from __future__ import annotations

import contextvars
import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inscriptis import get_text
from jinja2 import TemplateError as JinjaTemplateError
from jinja2 import TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from .template_tags import (
    COMMENTS_TAG,
    MODULES,
    REPLYABOVE_TAG,
    TAG_PATTERN,
    TICKET_NO_TAG,
    unknown_tags,
)

__all__ = [
    "DEFAULT_COMMENT_BODY", "DEFAULT_COMMENT_NAME", "DEFAULT_COMMENT_SUBJECT", "CommentView",
    "RenderContext", "RenderedEmail", "TemplateError", "TemplateLimitError",
    "ensure_default_templates", "render_email", "validate_template",
]

MAX_OUTPUT_CHARS = 1_000_000
MAX_SUBJECT_CHARS = 500
TIME_BUDGET_S = 2.0
_BIG_NUMBER = re.compile(r"\d{5,}")   # a width like %99999s or {:>99999} in a format string
_HTML_HINT = re.compile(
    r"<\s*(html|body|p|div|br|table|span|a|b|strong|em|i|u|ul|ol|li|h[1-6]|blockquote|img)\b[^>]*>",
    re.IGNORECASE)

DEFAULT_COMMENT_NAME = "Ticket comment changed"
DEFAULT_COMMENT_SUBJECT = "[$helpdesk-ticket_no$] $helpdesk-title$"
DEFAULT_COMMENT_BODY = """$helpdesk-replyabove$

Hello $contacts-name$,

there is a new reply on your ticket $helpdesk-ticket_no$ "$helpdesk-title$".
Status: $helpdesk-status$

$helpdesk-comments$

To answer, reply to this email and write above the marker line.
"""

_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("template_deadline",
                                                                   default=float("inf"))


class TemplateError(ValueError):
    """A template that cannot be saved or rendered; `tag` names the offending tag if any."""

    def __init__(self, message: str, *, tag: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tag = tag
        self.line = line

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in an isolated render process and pickled back: keep tag and line.
        return (_remake, (type(self), self.message, self.__dict__))


class TemplateLimitError(TemplateError):
    """The template went past a resource limit; `limit` names it (time, memory, output,
    recursion)."""

    def __init__(self, message: str, *, limit: str = "time") -> None:
        super().__init__(message)
        self.limit = limit


def _remake(cls: type[TemplateError], message: str, state: dict[str, Any]) -> TemplateError:
    exc = cls.__new__(cls)
    ValueError.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


@dataclass(frozen=True)
class CommentView:
    author: str
    created_at: dt.datetime
    body: str


@dataclass(frozen=True)
class RenderContext:
    """Everything a template can see: tag values, public comments (newest first), marker."""

    values: Mapping[str, str]
    comments: tuple[CommentView, ...] = ()
    marker: str = ""
    objects: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _check_budget() -> None:
    if time.monotonic() > _deadline.get():
        raise TemplateLimitError("The template took too long to render.", limit="time")


def _limit_size(value: Any, times: Any) -> None:
    if (isinstance(value, (str, list, tuple)) and isinstance(times, int)
            and len(value) * times > MAX_OUTPUT_CHARS):
        raise TemplateLimitError("The template builds a value that is too large.",
                                 limit="output")


class _Undefined(Undefined):
    """Missing values render empty (a typo must not stop a customer's mail), but an unsafe
    attribute is an error instead of the sandbox's silent empty string."""

    def __str__(self) -> str:
        if self._undefined_exception is SecurityError:
            self._fail_with_undefined_error()
        return ""


class _LimitedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus checks on the operations that can blow up time or memory."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_budget()
        if operator == "*":
            _limit_size(left, right)
            _limit_size(right, left)
        elif operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise TemplateLimitError("The template uses too large an exponent.", limit="time")
        elif operator == "%" and isinstance(left, str) and _BIG_NUMBER.search(left):
            raise TemplateLimitError("The template uses too large a format width.",
                                     limit="output")
        return super().call_binop(context, operator, left, right)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _check_budget()
        return super().call(context, obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_budget()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_budget()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _BIG_NUMBER.search(str(value.__self__)):
            raise TemplateLimitError("The template uses too large a format width.",
                                     limit="output")
        return wrapped


def _guarded_filter(original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(value: Any, *args: Any, **kwargs: Any) -> Any:
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, int) and arg > 1000:
                raise TemplateLimitError("The template uses too large a width.",
                                         limit="output")
        return original(value, *args, **kwargs)
    return guarded


def _make_env(autoescape: bool) -> _LimitedEnvironment:
    env = _LimitedEnvironment(autoescape=autoescape, keep_trailing_newline=True,
                              undefined=_Undefined,
                              auto_reload=False, cache_size=200)
    for name in ("center", "indent", "wordwrap", "truncate"):
        env.filters[name] = _guarded_filter(env.filters[name])
    return env


_TEXT_ENV = _make_env(autoescape=False)
_HTML_ENV = _make_env(autoescape=True)


def _rewrite(source: str, *, escape_literal: bool) -> str:
    """Turn tags in literal text into `{{ tags['x'] }}`; optionally HTML-escape that text."""
    try:
        tokens = list(_TEXT_ENV.lex(source))
    except TemplateSyntaxError as exc:
        raise TemplateError(f"Template syntax error on line {exc.lineno}: {exc.message}",
                            line=exc.lineno) from None
    out: list[str] = []
    for _, kind, value in tokens:
        if kind != "data":
            out.append(value)
            continue
        pos = 0
        for m in TAG_PATTERN.finditer(value):
            if m.group(1) not in MODULES:  # "$price-low$" is text, not a tag
                continue
            literal = value[pos:m.start()]
            out.append(str(escape(literal)) if escape_literal else literal)
            out.append(f"{{{{ tags[{m.group(0).strip('$')!r}] }}}}")
            pos = m.end()
        rest = value[pos:]
        out.append(str(escape(rest)) if escape_literal else rest)
    return "".join(out)


def validate_template(subject: str, body: str) -> None:
    """Raise `TemplateError` for unknown tags (naming the first) or Jinja syntax errors."""
    for part, text in (("subject", subject), ("body", body)):
        bad = unknown_tags(text)
        if bad:
            raise TemplateError(f"Unknown tag {bad[0]} in the {part}.", tag=bad[0])
        source = _rewrite(text, escape_literal=False)
        try:
            _TEXT_ENV.from_string(source)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"Template syntax error in the {part} on line {exc.lineno}: "
                                f"{exc.message}", line=exc.lineno) from None


def _comments_text(comments: tuple[CommentView, ...]) -> str:
    blocks = [f"{c.author}, {c.created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC:\n"
              f"{c.body.strip()}" for c in comments]
    return "\n\n----\n\n".join(blocks)


def _comments_html(comments: tuple[CommentView, ...]) -> Markup:
    blocks = [Markup('<div style="margin:0 0 16px 0"><div style="color:#555"><b>{}</b>, {} UTC'
                     '</div><div style="white-space:pre-wrap">{}</div></div>').format(
        c.author, f"{c.created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M}", c.body.strip())
        for c in comments]
    return Markup('<hr style="border:0;border-top:1px solid #ddd">').join(blocks)


def _render(env: _LimitedEnvironment, source: str, variables: dict[str, Any]) -> str:
    try:
        template = env.from_string(source)
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateLimitError("The rendered email is too large.", limit="output")
            _check_budget()
            chunks.append(chunk)
        return "".join(chunks)
    except TemplateError:
        raise
    except (JinjaTemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise TemplateError(f"The template failed to render: {exc}") from None


def _variables(ctx: RenderContext, html: bool) -> dict[str, Any]:
    tags: dict[str, Any] = dict(ctx.values)
    tags[REPLYABOVE_TAG] = ctx.marker
    tags[COMMENTS_TAG] = _comments_html(ctx.comments) if html else _comments_text(ctx.comments)
    tags.setdefault(TICKET_NO_TAG, ctx.values.get("helpdesk-number", ""))
    comments = [{"author": c.author, "created_at": c.created_at, "body": c.body}
                for c in ctx.comments]
    return {"tags": tags, "comments": comments, "marker": ctx.marker, **ctx.objects}


def _one_line(text: str) -> str:
    # Header safety: CR/LF and other controls would start new headers; collapse them.
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def render_email(subject: str, body: str, ctx: RenderContext, *,
                 budget_s: float = TIME_BUDGET_S) -> RenderedEmail:
    """Render subject, text part and HTML part; raise `TemplateError` on any failure."""
    token = _deadline.set(time.monotonic() + budget_s)
    try:
        text_vars, html_vars = _variables(ctx, html=False), _variables(ctx, html=True)
        rendered_subject = _one_line(_render(
            _TEXT_ENV, _rewrite(subject, escape_literal=False), text_vars))[:MAX_SUBJECT_CHARS]
        if _HTML_HINT.search(body):
            html = _render(_HTML_ENV, _rewrite(body, escape_literal=False), html_vars)
            text = get_text(html).strip() + "\n"
        else:
            text = _render(_TEXT_ENV, _rewrite(body, escape_literal=False), text_vars)
            inner = _render(_HTML_ENV, _rewrite(body, escape_literal=True), html_vars)
            html = ('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
                    f'<div style="white-space:pre-wrap;font-family:sans-serif">{inner}</div>'
                    '</body></html>')
        return RenderedEmail(subject=rendered_subject, text=text, html=html)
    finally:
        _deadline.reset(token)


async def ensure_default_templates() -> None:
    """Create the "Ticket comment changed" template if missing; safe to call at every start."""
    from ..models.email_template import TICKET_COMMENT_TEMPLATE, EmailTemplate

    await EmailTemplate.get_or_create(key=TICKET_COMMENT_TEMPLATE, defaults={
        "name": DEFAULT_COMMENT_NAME, "subject": DEFAULT_COMMENT_SUBJECT,
        "body": DEFAULT_COMMENT_BODY, "send_to": ["contact_email"], "active": True})
