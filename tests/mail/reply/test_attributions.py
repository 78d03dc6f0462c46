"""Quote headers of more clients and languages, wrapped headers, dates before the sender."""

from __future__ import annotations

import pytest

from mailscanner.mail.reply import extract_reply

REPLY = "Danke, jetzt klappt es wieder."
QUOTE = "> Bitte starten Sie den Router neu.\n>\n> Acme Helpdesk"

# One line per client/language, written the way that client formats its attribution.
ATTRIBUTIONS = [
    (
        "de thunderbird sender first",
        "Acme Helpdesk <support@example.com> schrieb am 04.03.2024 um 10:12:",
    ),
    ("de outlook mac", 'Am 04.03.24, 10:12 schrieb "Acme Helpdesk" <support@example.com>:'),
    ("fr thunderbird", "Le 04/03/2024 à 10:12, Acme Helpdesk a écrit :"),
    ("fr sender first", "Acme Helpdesk <support@example.com> a écrit :"),
    ("no gmail", "man. 4. mar. 2024 kl. 10:12 skrev Acme Helpdesk <support@example.com>:"),
    (
        "no outlook",
        "Den 4. mars 2024 kl. 10.12 skrev Acme Helpdesk <support@example.com> følgende:",
    ),
    ("da apple", "Den 4. mar. 2024 kl. 10.12 skrev Acme Helpdesk <support@example.com>:"),
    ("sv android", "Den mån 4 mars 2024 10:12Acme Helpdesk <support@example.com> skrev:"),
    ("uk gmail", "пн, 4 бер. 2024 р. о 10:12 Acme Helpdesk <support@example.com> пише:"),
    ("uk thunderbird", "04.03.2024 10:12, Acme Helpdesk написав:"),
    ("ru thunderbird", "04.03.2024 10:12, Acme Helpdesk пишет:"),
    (
        "ru mail.ru",
        "Понедельник, 4 марта 2024, 10:12 +03:00 от Acme Helpdesk <support@example.com>:",
    ),
    (
        "vi gmail",
        "Vào Th 2, 4 thg 3, 2024 vào lúc 10:12 Acme Helpdesk <support@example.com> đã viết:",
    ),
    ("android gmail", "On Mon, Mar 4, 2024, 10:12 AM Acme Helpdesk <support@example.com> wrote:"),
    ("android samsung", "-------- Original message --------"),
    ("thunderbird en", "On 3/4/24 10:12 AM, Acme Helpdesk wrote:"),
    ("sparrow", "On Monday, 4 March 2024 at 10:12, Acme Helpdesk wrote:"),
    ("polymail", "On Mon, Mar 4, 2024 at 10:12 AM Acme Helpdesk <support@example.com> wrote:"),
    ("date before sender", "2024-03-04 10:12 GMT+01:00 Acme Helpdesk <support@example.com>:"),
    ("yandex", '04.03.2024, 10:12, "Acme Helpdesk" <support@example.com>:'),
    ("iso date", "On 2024-03-04T10:12:00+01:00, Acme Helpdesk <support@example.com> wrote:"),
    (
        "unicode name",
        "Am Mo., 4. März 2024 um 10:12 Uhr schrieb Ærøskøbing Ölçüm Ŝŭpport <s@example.com>:",
    ),
    ("tr", "4 Mar 2024 Pzt, saat 10:12 tarihinde Acme Helpdesk <support@example.com> şunu yazdı:"),
    ("cs", "Dne po 4. 3. 2024 10:12 uživatel Acme Helpdesk <support@example.com> napsal:"),
    ("ja gmail", "2024年3月4日(月) 10:12 Acme Helpdesk <support@example.com>:"),
    ("ko gmail", "2024년 3월 4일 (월) 오전 10:12, Acme Helpdesk <support@example.com>님이 작성:"),
]


@pytest.mark.parametrize(("client", "line"), ATTRIBUTIONS, ids=[a[0] for a in ATTRIBUTIONS])
def test_quote_header_of_each_client_starts_the_quote(client: str, line: str) -> None:
    parts = extract_reply(f"{REPLY}\n\n{line}\n{QUOTE}\n")
    assert parts.reply_text == REPLY
    assert parts.quoted_text == f"{line}\n{QUOTE}"


WRAPPED = [
    "On Mon, Mar 4, 2024 at 10:12 AM Acme Helpdesk <\nsupport@example.com> wrote:",
    "Am 04.03.2024 um 10:12 schrieb\nAcme Helpdesk <support@example.com>:",
    "Le lun. 4 mars 2024 à 10:12, Acme Helpdesk <support@example.com> a\nécrit :",
    "Den 4 mars 2024 kl. 10:12 skrev Acme Helpdesk\n<support@example.com>:",
]


@pytest.mark.parametrize("line", WRAPPED)
def test_a_quote_header_wrapped_over_two_lines_is_cut_whole(line: str) -> None:
    parts = extract_reply(f"{REPLY}\n\n{line}\n{QUOTE}\n")
    assert parts.reply_text == REPLY
    assert parts.quoted_text.startswith(line.split("\n")[0])


def test_a_sentence_with_a_date_and_an_address_is_not_a_quote_header() -> None:
    text = "Please write to billing@example.com before 2024-03-31:\nthe invoice is wrong."
    parts = extract_reply(text)
    assert (parts.reply_text, parts.method) == (text, "none")


def test_a_customer_sentence_ending_in_wrote_colon_without_date_or_address_is_kept() -> None:
    text = "This is what my colleague wrote:\nthe printer is broken."
    assert extract_reply(text).method == "none"
