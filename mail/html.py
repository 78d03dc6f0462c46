"""HTML bodies: sanitizing for safe display (nh3) and readable text conversion (inscriptis).

Both bound the nesting depth first (``html_nesting``): parsers are quadratic in it.
Sanitizing keeps structure and the class/id hooks that quote detection needs (Gmail's
``gmail_quote``, Outlook's ``appendonsend``) but drops scripts, event handlers, forms and
everything that loads remote content when displayed: remote ``src``, ``background``,
``<link>``, ``<style>`` blocks and CSS ``url(...)``. ``cid:`` and ``data:image`` sources stay,
so inline images can be served from the mail's own attachments.
"""

from __future__ import annotations

import logging
import re
import textwrap

import nh3
from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

from .html_nesting import bound_nesting

logger = logging.getLogger(__name__)

MAX_HTML_CHARS = 2_000_000  # converting more than this costs seconds and nobody reads it

_TAGS = {
    "a",
    "abbr",
    "address",
    "b",
    "bdi",
    "bdo",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
}
_ATTRIBUTES = {
    "*": {"class", "dir", "lang", "title", "align", "style"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "div": {"id"},
    "blockquote": {"type", "cite"},
    "hr": {"id"},  # Hotmail's hr#stopSpelling marks where the quoted original starts
    "td": {"colspan", "rowspan", "valign", "width"},
    "th": {"colspan", "rowspan", "valign", "width"},
    "table": {"cellpadding", "cellspacing", "width", "border"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
}
_STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "text-align",
    "text-decoration",
    "vertical-align",
    "line-height",
    "margin",
    "margin-left",
    "margin-right",
    "margin-top",
    "margin-bottom",
    "padding",
    "padding-left",
    "padding-right",
    "padding-top",
    "padding-bottom",
    "border",
    "border-top",
    "border-bottom",
    "border-left",
    "border-right",
    "border-collapse",
    "width",
    "height",
    "white-space",
    "direction",
}
_SCHEMES = {"http", "https", "mailto", "cid", "data", "tel"}
# "strict" does not indent every <div> as "relaxed" does; mail HTML nests divs deeply.
_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], display_links=True)
_BLANKS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "src":
        low = value.strip().lower()
        if low.startswith("cid:") or low.startswith("data:image/"):
            return value
        return None  # remote images are tracking pixels until the user asks for them
    if attr == "href" and value.strip().lower().startswith(("data:", "cid:")):
        return None
    if attr == "style" and ("url(" in value.lower() or "expression(" in value.lower()):
        return None
    return value


def sanitize_html(html: str) -> str:
    """Return ``html`` safe to show in a sandboxed frame: no scripts, no remote loads."""
    if not html.strip():
        return ""
    try:
        return nh3.clean(
            bound_nesting(html[:MAX_HTML_CHARS]),
            tags=_TAGS,
            clean_content_tags={"script", "style", "title", "head", "template", "noscript"},
            attributes=_ATTRIBUTES,
            attribute_filter=_attribute_filter,
            url_schemes=_SCHEMES,
            link_rel="noopener noreferrer nofollow",
            filter_style_properties=_STYLE_PROPERTIES,
            strip_comments=True,
        )
    except Exception:  # nh3 is Rust; a panic surfaces as an exception, never crash parsing
        logger.exception("HTML sanitizer failed")
        return ""


def html_to_text(html: str) -> str:
    """Readable plain text from HTML: paragraphs, lists as bullets, links as [text](url)."""
    if not html.strip():
        return ""
    try:
        text = get_text(bound_nesting(html[:MAX_HTML_CHARS]), _CONFIG)
    except Exception:  # inscriptis/lxml on hostile markup
        logger.debug("html_to_text failed", exc_info=True)
        text = re.sub(r"<[^>]*>", " ", html[:MAX_HTML_CHARS])
    lines = [line.rstrip() for line in text.replace("\xa0", " ").splitlines()]
    return textwrap.dedent(_BLANKS.sub("\n\n", "\n".join(lines))).strip("\n")
