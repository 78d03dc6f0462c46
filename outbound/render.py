"""Rendering comment emails in an isolated process (isolated.py), never in the caller's.

The checks in templates.py stop the common ways a template can blow up, but only the
kernel's limits stop all of them (a loop without a call in it, a big-integer power, a string
doubled with `~`, a recursive macro). `render_isolated` is what the outbox and the template
editor use; `check_render` test-renders a template with realistic sample data before it is
saved, so a template that cannot render within the limits is refused then, not at send time.
"""
from __future__ import annotations

import datetime as dt

from ..isolated import LimitExceeded, Limits, WorkerFailed, run_isolated
from .template_tags import COMMENTS_TAG, REPLYABOVE_TAG, TICKET_NO_TAG, list_template_tags
from .templates import (
    MAX_OUTPUT_CHARS,
    CommentView,
    RenderContext,
    RenderedEmail,
    TemplateError,
    TemplateLimitError,
    render_email,
)

__all__ = ["TEMPLATE_LIMITS", "check_render", "limit_text", "render_isolated",
           "sample_context"]

# CPU time (RLIMIT_CPU, and a watchdog on the wall clock a little later), memory on top of
# the worker's own size (RLIMIT_AS), and the in-process budget that ends most slow
# templates with a clearer message before the kernel has to.
TEMPLATE_LIMITS = Limits(cpu_s=1.5, wall_s=2.0, memory_mb=256)
IN_PROCESS_BUDGET_S = 1.5

_LIMIT_TEXT = {
    "time": f"time ({TEMPLATE_LIMITS.cpu_s:g} s)",
    "memory": f"memory ({TEMPLATE_LIMITS.memory_mb} MB)",
    "output": f"output size ({MAX_OUTPUT_CHARS:,} characters)",
    "recursion": "recursion (a macro or loop calls itself too deeply)",
}


def limit_text(limit: str) -> str:
    """`"time (2 s)"`: the limit as a person reads it."""
    return _LIMIT_TEXT.get(limit, limit)


def _limit_error(limit: str, detail: str = "") -> TemplateLimitError:
    message = f"The template exceeds the {limit_text(limit)} limit."
    if detail and detail not in message:
        message = f"{message} {detail}"
    return TemplateLimitError(message, limit=limit)


def _render_in_worker(subject: str, body: str, ctx: RenderContext) -> RenderedEmail:
    return render_email(subject, body, ctx, budget_s=IN_PROCESS_BUDGET_S)


async def render_isolated(subject: str, body: str, ctx: RenderContext) -> RenderedEmail:
    """`render_email` in an isolated worker under `TEMPLATE_LIMITS`.

    Raises `TemplateLimitError` (its `limit` says which) or `TemplateError`."""
    try:
        return await run_isolated(_render_in_worker, subject, body, ctx,
                                  limits=TEMPLATE_LIMITS)
    except TemplateLimitError as exc:
        raise _limit_error(exc.limit, exc.message) from None
    except LimitExceeded as exc:
        raise _limit_error(exc.limit.value) from None
    except WorkerFailed as exc:
        raise TemplateError(f"The template could not be rendered: {exc}") from None


_SAMPLE_VALUES = {
    "helpdesk-number": "TT1234", "helpdesk-title": "Printer on the 3rd floor jams on every job",
    "helpdesk-status": "Open", "helpdesk-priority": "High", "helpdesk-category": "Hardware",
    "contacts-name": "Eve Example", "contacts-email": "eve.example@example.com",
    "accounts-name": "Example Corporation", "accounts-domain": "example.com",
    "users-name": "Alice Agent", "users-email": "alice@helpdesk.example",
}
_SAMPLE_BODY = ("Thank you for the details. We replaced the fuser unit and ran a test page; "
                "the paper path is clear again. If it jams once more, please send a photo of "
                "the display and the job name, and we will send a technician.\n") * 3


def sample_context() -> RenderContext:
    """A realistic context: every tag filled, three public comments of a few lines each."""
    values: dict[str, str] = {}
    for tag in list_template_tags():
        key = tag.tag.strip("$")
        values[key] = _SAMPLE_VALUES.get(key, f"Sample {tag.label.lower()}")
    values[TICKET_NO_TAG] = "TT1234"
    for special in (COMMENTS_TAG, REPLYABOVE_TAG):
        values.pop(special, None)
    objects: dict[str, dict[str, str]] = {"ticket": {}, "contact": {}, "account": {}, "user": {}}
    names = {"helpdesk": "ticket", "contacts": "contact", "accounts": "account", "users": "user"}
    for key, value in values.items():
        module, _, field = key.partition("-")
        objects[names[module]][field] = value
    now = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    comments = tuple(
        CommentView(author, now - dt.timedelta(hours=h), _SAMPLE_BODY)
        for author, h in (("Alice Agent", 0), ("Eve Example", 2), ("Alice Agent", 5)))
    return RenderContext(values=values, comments=comments,
                         marker="## Please reply above this line ##", objects=objects)


async def check_render(subject: str, body: str) -> tuple[str, TemplateError] | None:
    """Test-render with sample data; `("subject" | "body", error)` when it fails.

    The subject is rendered alone first (fast for any normal subject), so that a failure
    of the full render can be blamed on the body."""
    ctx = sample_context()
    for part, (s, b) in (("subject", (subject, "")), ("body", (subject, body))):
        try:
            await render_isolated(s, b, ctx)
        except TemplateError as exc:
            return part, exc
    return None
