"""Hostile message shapes, each a function of a size: the linear-time test and
bench/parse.py build them at two sizes and compare the parse time.

Each targets one stage: HTML nesting (sanitiser, html->text, quote containers), unclosed and
re-opened formatting tags, header counts and folding, MIME part counts and nesting, boundary
look-alikes, reply-extraction line patterns, encoded words, address lists, uuencode
look-alikes and endless lines.
"""

from __future__ import annotations

from collections.abc import Callable

HEAD = "From: Kim <kim@example.com>\nTo: support@example.com\nSubject: hostile\n"


def _mail(body: str, ctype: str = "text/plain; charset=utf-8", head: str = HEAD) -> bytes:
    return f"{head}MIME-Version: 1.0\nContent-Type: {ctype}\n\n{body}".encode()


def nested_divs(n: int) -> bytes:
    return _mail("<div>" * n + "deep text" + "</div>" * n, "text/html; charset=utf-8")


def nested_blockquotes(n: int) -> bytes:
    body = "<p>reply</p>" + '<blockquote type="cite">quoted' * n + "</blockquote>" * n
    return _mail(body, "text/html")


def unclosed_formatting(n: int) -> bytes:
    return _mail("".join(f'<b id="b{i}">x<p>y' for i in range(n)), "text/html")


def unterminated_tags(n: int) -> bytes:
    return _mail("<a" * n, "text/html")


def many_headers(n: int) -> bytes:
    head = HEAD + "".join(f"X-Header-{i}: value {i}\n" for i in range(n))
    return _mail("hi", head=head)


def folded_header(n: int) -> bytes:
    return _mail("hi", head=HEAD + "X-Long: start\n" + " continued\n" * n)


def many_parts(n: int) -> bytes:
    parts = "".join(f"--b\nContent-Type: text/plain\n\npart {i}\n" for i in range(n))
    return _mail(parts + "--b--\n", "multipart/mixed; boundary=b")


def boundary_lookalikes(n: int) -> bytes:
    return _mail("--b\n\n" + "--bb\n" * n + "--b--\n", "multipart/mixed; boundary=b")


def nested_multiparts(n: int) -> bytes:
    body = "".join(
        f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(n)
    )
    return _mail(body + "text\n", "multipart/mixed; boundary=b0")


def quoted_lines(n: int) -> bytes:
    return _mail("answer\n" + "> quoted line\n" * n)


def blank_lines(n: int) -> bytes:
    return _mail("answer" + "\n" * n + "> quote\n")


def header_like_lines(n: int) -> bytes:
    return _mail("answer\n" + "From: a@b.example\nTo: c\n" * n)


def attribution_like_lines(n: int) -> bytes:
    return _mail("answer\n" + "On Mon 4 Mar 2024 Kim wrote something 123\n" * n)


def encoded_words(n: int) -> bytes:
    subject = " ".join(["=?utf-8?q?=C3=A5?="] * n)
    return _mail("hi", head=HEAD.replace("Subject: hostile", f"Subject: {subject}"))


def many_addresses(n: int) -> bytes:
    to = ", ".join(f'"Name, {i}" <user{i}@example.com>' for i in range(n))
    return _mail("hi", head=HEAD.replace("To: support@example.com", f"To: {to}"))


def uuencode_lookalikes(n: int) -> bytes:
    return _mail("begin 644 file.txt\nM86)C\n" * n)


def endless_line(n: int) -> bytes:
    return _mail("word " * n)


def signature_like_lines(n: int) -> bytes:
    return _mail("answer\n" + "-- \nKim\n" * n)


ADVERSARIAL: dict[str, Callable[[int], bytes]] = {
    "nested_divs": nested_divs,
    "nested_blockquotes": nested_blockquotes,
    "unclosed_formatting": unclosed_formatting,
    "unterminated_tags": unterminated_tags,
    "many_headers": many_headers,
    "folded_header": folded_header,
    "many_parts": many_parts,
    "boundary_lookalikes": boundary_lookalikes,
    "nested_multiparts": nested_multiparts,
    "quoted_lines": quoted_lines,
    "blank_lines": blank_lines,
    "header_like_lines": header_like_lines,
    "attribution_like_lines": attribution_like_lines,
    "encoded_words": encoded_words,
    "many_addresses": many_addresses,
    "uuencode_lookalikes": uuencode_lookalikes,
    "endless_line": endless_line,
    "signature_like_lines": signature_like_lines,
}
