"""Template tags, rendering of the text and HTML parts, and the sandbox's limits."""
from __future__ import annotations

import datetime as dt

import pytest

from mailscanner.mail.reply import DEFAULT_MARKER
from mailscanner.outbound.template_tags import list_template_tags, unknown_tags
from mailscanner.outbound.templates import (
    DEFAULT_COMMENT_BODY,
    DEFAULT_COMMENT_SUBJECT,
    CommentView,
    RenderContext,
    TemplateError,
    render_email,
    validate_template,
)

T0 = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)


def _ctx(title: str = "Printer on fire", name: str = "Eve Example",
         comments: tuple[CommentView, ...] = ()) -> RenderContext:
    values = {"helpdesk-ticket_no": "TT7", "helpdesk-number": "TT7", "helpdesk-title": title,
              "helpdesk-status": "Open", "contacts-name": name, "contacts-email": "eve@example.com",
              "users-name": "Alice Agent", "accounts-name": "Acme"}
    objects = {"ticket": {"number": "TT7", "title": title}, "contact": {"name": name}}
    return RenderContext(values=values, comments=comments, marker=DEFAULT_MARKER, objects=objects)


def _comments() -> tuple[CommentView, ...]:
    return (CommentView("Alice Agent", T0 + dt.timedelta(hours=1), "We are on it."),
            CommentView("Eve Example", T0, "It is <b>burning</b> {{ 7*7 }}"))


def test_tags_cover_ticket_contact_account_user_and_the_specials() -> None:
    tags = {t.tag: t for t in list_template_tags()}
    for tag in ("$helpdesk-ticket_no$", "$helpdesk-comments$", "$helpdesk-replyabove$",
                "$helpdesk-title$", "$helpdesk-status$", "$contacts-email$", "$accounts-name$",
                "$users-name$"):
        assert tag in tags
    assert tags["$helpdesk-status$"].label == "Status"
    assert tags["$users-name$"].module_label == "Commenting user"
    # Internal fields are not tags: no label, or secrets.
    assert "$helpdesk-source_message_id$" not in tags
    assert "$contacts-email_normalized$" not in tags


def test_unknown_tag_is_reported_by_name_when_saving() -> None:
    with pytest.raises(TemplateError) as info:
        validate_template("[$helpdesk-ticket_no$]", "Hi $contacts-nmae$\n$helpdesk-comments$")
    assert info.value.tag == "$contacts-nmae$"
    assert "$contacts-nmae$" in info.value.message and "body" in info.value.message


def test_dollar_text_that_is_not_one_of_our_modules_is_plain_text() -> None:
    assert unknown_tags("Costs $5-10$ or $price-low$") == []
    validate_template("Price", "Costs $price-low$ today")
    mail = render_email("s", "Costs $price-low$ or $5-10$ for $contacts-name$", _ctx())
    assert mail.text == "Costs $price-low$ or $5-10$ for Eve Example"


def test_jinja_syntax_error_is_reported_with_its_line() -> None:
    with pytest.raises(TemplateError) as info:
        validate_template("s", "line one\n{% if x %}never closed")
    assert "syntax" in info.value.message.lower() and info.value.line is not None


def test_default_template_renders_marker_first_and_comments_newest_first() -> None:
    validate_template(DEFAULT_COMMENT_SUBJECT, DEFAULT_COMMENT_BODY)
    mail = render_email(DEFAULT_COMMENT_SUBJECT, DEFAULT_COMMENT_BODY, _ctx(comments=_comments()))

    assert mail.subject == "[TT7] Printer on fire"
    assert mail.text.splitlines()[0] == DEFAULT_MARKER
    assert "Hello Eve Example," in mail.text
    newer, older = mail.text.index("We are on it."), mail.text.index("burning")
    assert newer < older
    assert "Alice Agent, 2026-11-28 10:30 UTC:" in mail.text
    assert DEFAULT_MARKER in mail.html


def test_customer_text_is_data_never_template_code() -> None:
    mail = render_email("$helpdesk-title$", "$helpdesk-comments$",
                        _ctx(title="{{ 7*7 }}", comments=_comments()))
    assert mail.subject == "{{ 7*7 }}"
    assert "{{ 7*7 }}" in mail.text and "49" not in mail.text


def test_html_part_escapes_values_and_literal_text() -> None:
    mail = render_email("s", "a < b & $contacts-name$\n$helpdesk-comments$",
                        _ctx(name="<script>x</script>", comments=_comments()))
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html and "a &lt; b &amp;" in mail.html
    assert "It is &lt;b&gt;burning&lt;/b&gt;" in mail.html
    assert "a < b & <script>x</script>" in mail.text


def test_an_html_body_is_used_as_html_and_gives_a_text_part() -> None:
    mail = render_email("s", "<p>Hello <b>$contacts-name$</b></p>", _ctx(name="Eve & Co"))
    assert "<b>Eve &amp; Co</b>" in mail.html
    assert "Hello Eve & Co" in mail.text


def test_jinja_expressions_can_use_objects_and_comments() -> None:
    body = "{% if comments|length > 1 %}{{ ticket.title|upper }}{% endif %} {{ marker[:3] }}"
    mail = render_email("s", body, _ctx(comments=_comments()))
    assert mail.text == "PRINTER ON FIRE ##-"


def test_subject_cannot_inject_headers() -> None:
    mail = render_email("$helpdesk-title$", "b", _ctx(title="Hi\r\nBcc: evil@example.com\x00"))
    assert "\r" not in mail.subject and "\n" not in mail.subject
    assert mail.subject == "Hi Bcc: evil@example.com"


@pytest.mark.parametrize("body", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ comments.append(1) }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ '{0.__class__}'.format(1) }}",
])
def test_sandbox_refuses_unsafe_access(body: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_email("s", body, _ctx())
    assert "unsafe" in info.value.message or "not safely callable" in info.value.message


@pytest.mark.parametrize("body", [
    "{{ 'x' * 100000000 }}",
    "{% for i in range(90000) %}{{ 'y' * 50 }}{% endfor %}",
    "{{ '%99999999s' % 1 }}",
    "{{ '{:>99999999}'.format(1) }}",
    "{{ 'a'|center(99999999) }}",
    "{{ 9 ** 9999999 }}",
])
def test_output_size_is_limited(body: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_email("s", body, _ctx())
    assert "too large" in info.value.message


def test_render_time_is_limited() -> None:
    body = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateError) as info:
        render_email("s", body, _ctx(), budget_s=0.05)
    assert "too long" in info.value.message
