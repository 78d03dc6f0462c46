"""HTML quote markup of Outlook.com/Hotmail, Mail.ru and Yandex."""

from __future__ import annotations

from mailscanner.mail.html import sanitize_html
from mailscanner.mail.reply import extract_reply


def reply_of(html: str) -> tuple[str, str, str]:
    parts = extract_reply("", sanitize_html(html))  # as the scanner does: sanitised first
    return parts.reply_text, parts.quoted_text, parts.method


def test_outlook_com_reply_header_div_is_cut() -> None:
    html = (
        '<div dir="ltr">Thanks, received.</div><div><br></div>'
        '<hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Acme '
        "&lt;support@example.com&gt;<br><b>Sent:</b> Monday, March 4, 2024 10:12<br>"
        "<b>To:</b> Kim</font></div><div>Your order shipped.</div>"
    )
    reply, quoted, method = reply_of(html)
    assert (reply, method) == ("Thanks, received.", "html_quote")
    assert "Your order shipped." in quoted


def test_requoted_outlook_ids_with_x_prefix_are_cut() -> None:
    html = '<p>OK</p><div id="x_divRplyFwdMsg"><b>From:</b> Acme</div><p>old text</p>'
    assert reply_of(html)[0] == "OK"


def test_hotmail_stop_spelling_rule_is_cut() -> None:
    html = '<div>Sounds good.</div><hr id="stopSpelling">Date: Mon, 4 Mar 2024<br>old text'
    reply, quoted, _ = reply_of(html)
    assert reply == "Sounds good." and "old text" in quoted


def test_mail_ru_blockquote_under_its_attribution_is_cut() -> None:
    html = (
        "<div>Спасибо, всё работает.</div><br>"
        "<div>Понедельник, 4 марта 2024, 10:12 +03:00 от Acme Helpdesk "
        "&lt;support@example.com&gt;:<br></div>"
        '<blockquote style="border-left:1px solid #0857A6; margin:10px; padding:0 0 0 10px;">'
        "<div>Перезагрузите роутер.</div></blockquote>"
    )
    reply, quoted, method = reply_of(html)
    assert (reply, method) == ("Спасибо, всё работает.", "html_quote")
    assert quoted.startswith("Понедельник, 4 марта 2024")
    assert quoted.endswith("Перезагрузите роутер.")


def test_yandex_blockquote_under_its_attribution_is_cut() -> None:
    html = (
        '<div>Да, подходит.</div><div> </div><div>04.03.2024, 10:12, "Acme Helpdesk" '
        "&lt;support@example.com&gt;:</div><blockquote><div>Вам подходит вторник?</div>"
        "</blockquote>"
    )
    reply, quoted, _ = reply_of(html)
    assert reply == "Да, подходит."
    assert "Вам подходит вторник?" in quoted


def test_a_blockquote_the_customer_uses_for_emphasis_is_kept() -> None:
    html = "<p>The error says:</p><blockquote>Disk full</blockquote><p>What now?</p>"
    reply, quoted, method = reply_of(html)
    assert (quoted, method) == ("", "none")
    assert "Disk full" in reply and "What now?" in reply
