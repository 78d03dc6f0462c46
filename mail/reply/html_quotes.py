"""Quote containers in HTML replies: cut the DOM where the quoted original starts.

Clients mark the quote in their own markup: Gmail ``div.gmail_quote``, Apple
``blockquote[type=cite]``, Thunderbird ``div.moz-cite-prefix``, Outlook desktop/web
``#appendonsend``/``#divRplyFwdMsg`` (``x_``-prefixed when re-quoted, ``ecx`` on old
Hotmail), Outlook.com/Hotmail ``hr#stopSpelling``, Outlook for Mac
``#OLK_SRC_BODY_SECTION``, Yahoo ``.yahoo_quoted``. Mail.ru and Yandex quote with a plain
``<blockquote>`` under their attribution line ("Понедельник, 4 марта 2024, 10:12 +03:00 от
Anna <a@b>:", "04.03.2024, 10:12, "Anna" <a@b>:"): a bare blockquote is a quote when the
line right above it is an attribution. Everything from the earliest container on (and
everything after it, up the tree) is the quote.
"""

from __future__ import annotations

import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]

from ..html import html_to_text
from ..html_nesting import bound_nesting
from .parts import ReplyParts, strip_lines
from .text import is_quote_header, trim_tail


def _class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


QUOTE_XPATH = " | ".join(
    [
        f"//div[{_class('gmail_quote')} or {_class('gmail_quote_container')}]",
        f"//div[{_class('ecxgmail_quote')}]",
        "//blockquote[@type='cite']",
        "//div[contains(@id, 'appendonsend')] | //div[contains(@id, 'divRplyFwdMsg')]",
        f"//div[{_class('moz-cite-prefix')}]",
        "//*[@id='OLK_SRC_BODY_SECTION'] | //hr[contains(@id, 'stopSpelling')]",
        f"//div[{_class('yahoo_quoted')}]",
        f"//*[{_class('OutlookMessageHeader')}]",
    ]
)


def _attributed_blockquote(root: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    # A bare <blockquote> right under an attribution line (Mail.ru, Yandex, many webmails).
    last_line = ""
    for event, el in lxml.etree.iterwalk(root, events=("start", "end")):
        if event == "start" and el.tag == "blockquote" and is_quote_header(last_line):
            return el
        piece = el.text if event == "start" else el.tail
        lines = [x for x in (piece or "").replace("\xa0", " ").split("\n") if x.strip()]
        if lines:
            last_line = lines[-1]
    return None


def _cut_from(root: lxml.html.HtmlElement, node: lxml.html.HtmlElement) -> list[str]:
    """Remove ``node``, its following siblings and those of every ancestor; return them."""
    removed: list[str] = []
    current = node
    while current is not None and current is not root:
        parent = current.getparent()
        if parent is None:
            break
        siblings = (
            [current, *current.itersiblings()] if current is node else list(current.itersiblings())
        )
        for sib in siblings:
            removed.append(lxml.html.tostring(sib, encoding="unicode"))
            parent.remove(sib)
        if current is not node and current.tail:
            removed.append(current.tail)
            current.tail = None
        current = parent
    return removed


def split_html(html: str) -> ReplyParts | None:
    """Split at the earliest quote container; None when the HTML has none."""
    try:
        root = lxml.html.document_fromstring(bound_nesting(html))
        nodes = root.xpath(QUOTE_XPATH)
    except (lxml.etree.LxmlError, ValueError):
        return None
    if nodes:
        order = {el: n for n, el in enumerate(root.iter())}
        node = min(nodes, key=lambda el: order.get(el, 1 << 30))
    else:
        node = _attributed_blockquote(root)
        if node is None:
            return None
    removed = _cut_from(root, node)
    reply_text = html_to_text(lxml.html.tostring(root, encoding="unicode"))
    above, header = trim_tail(reply_text.split("\n"))
    quoted = "\n".join(header + html_to_text("".join(removed)).split("\n"))
    return ReplyParts(strip_lines(above), quoted.strip("\n").rstrip(), False, "html_quote")
