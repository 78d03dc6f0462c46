"""HTML bodies: nothing in the sanitized HTML can run code or load anything remote."""

from __future__ import annotations

import pytest

from mailscanner.mail.html import html_to_text, sanitize_html

TRICKS = [
    "<script>alert(1)</script>",
    '<img src="https://t.example/p.gif">',
    '<img src=" HTTPS://t.example/p.gif">',
    '<img src="//t.example/p.gif">',
    '<img srcset="https://t.example/a.png 1x">',
    '<img src=x onerror="alert(1)">',
    '<body background="https://t.example/bg.png">x</body>',
    '<table background="https://t.example/bg.png"><tr><td>x</td></tr></table>',
    '<div style="background-image:url(https://t.example/bg.png)">x</div>',
    "<div style=\"background: URL('https://t.example/bg.png')\">x</div>",
    '<div style="color:red; behavior: url(x.htc)">x</div>',
    "<style>@import url(https://t.example/x.css); body{background:url(https://t.example/y)}</style>",
    '<link rel="stylesheet" href="https://t.example/x.css">',
    '<meta http-equiv="refresh" content="0;url=https://t.example/">',
    '<base href="https://t.example/">',
    '<iframe src="https://t.example/"></iframe>',
    '<object data="https://t.example/x.swf"></object><embed src="https://t.example/x.swf">',
    '<video poster="https://t.example/p.png" src="https://t.example/v.mp4"></video>',
    '<audio src="https://t.example/a.mp3"></audio>',
    '<svg><image href="https://t.example/p.png"/></svg>',
    '<form action="https://t.example/"><input name="pw"><button>Go</button></form>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="https://ok.example/" onclick="steal()">x</a>',
]


@pytest.mark.parametrize("html", TRICKS)
def test_sanitized_html_has_no_remote_loads_or_script(html: str) -> None:
    clean = sanitize_html(html).lower()
    for forbidden in (
        "t.example",
        "script",
        "javascript:",
        "onerror",
        "onclick",
        "url(",
        "data:text",
        "<iframe",
        "<object",
        "<embed",
        "<form",
        "<input",
        "<link",
        "<meta",
        "<base",
        "<style",
        "<svg",
        "<video",
        "<audio",
        "srcset",
        "behavior",
    ):
        assert forbidden not in clean, (forbidden, clean)


def test_safe_links_inline_images_and_layout_survive() -> None:
    html = (
        '<div class="gmail_quote" id="appendonsend" style="color:#333;font-weight:bold">'
        '<a href="https://ok.example/x">link</a> <img src="cid:logo@x" alt="logo">'
        '<img src="data:image/png;base64,iVBORw0KGgo="><blockquote type="cite">q</blockquote></div>'
    )
    assert sanitize_html(html) == (
        '<div class="gmail_quote" id="appendonsend" style="color:#333;font-weight:bold">'
        '<a href="https://ok.example/x" rel="noopener noreferrer nofollow">link</a> '
        '<img src="cid:logo@x" alt="logo"><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<blockquote type="cite">q</blockquote></div>'
    )


def test_text_conversion_is_readable() -> None:
    html = (
        "<h1>Title</h1><p>First paragraph with a <a href='https://x.example/a'>link</a>.</p>"
        "<ul><li>one</li><li>two</li></ul><p>Last&nbsp;one</p><script>var x=1;</script>"
    )
    assert html_to_text(html) == (
        "Title\n\nFirst paragraph with a [link](https://x.example/a).\n\n"
        "  * one\n  * two\n\nLast one"
    )


def test_empty_and_broken_html() -> None:
    assert sanitize_html("") == "" and html_to_text("   ") == ""
    assert html_to_text("<p>unclosed <b>bold") == "unclosed bold"
