"""Benchmark: parse_email against bare stdlib ``email.message_from_bytes`` (compat32).

Run: ``.venv/bin/python bench/parse.py [--count 10000] [--repeat 3] [--seed 7]``

A deterministic mixed corpus is generated in memory (plain, HTML-only, alternative,
multipart with attachments, legacy charsets). Two access patterns are timed on the same bytes
in the same run, best of ``--repeat``:
  * headers: what most rules read (subject, from, to, message-id, one custom header);
  * full: text body plus every attachment's size and sha256.
Wall and CPU time are both printed (ratios for each): on a loaded machine compare CPU.
The stdlib side does the equivalent work on its own objects (raw header strings, no RFC 2047
decoding, ``get_payload(decode=True)`` on every leaf), so the ratio is a fair upper bound.

Then the hostile shapes of tests/mail/adversarial.py (deep HTML nesting, unclosed formatting
tags, huge header/part/line counts, regex traps...) are parsed and read in full at about
100 KB and at 4x that size: CPU ms for each and the ratio (linear work gives ~4x; the
whole-pipeline cost per MB is printed beside the corpus figure). ``--no-adversarial`` skips.
"""

from __future__ import annotations

import argparse
import base64
import email
import hashlib
import quopri
import random
import time
from collections.abc import Callable
from email import policy

from mailscanner.cli.inspect import to_json_dict
from mailscanner.mail.parsing import parse_email

WORDS = [
    "printer",
    "invoice",
    "license",
    "password",
    "reset",
    "network",
    "drive",
    "vpn",
    "access",
    "laptop",
    "screen",
    "keyboard",
    "ticket",
    "update",
    "urgent",
    "please",
    "help",
    "error",
    "message",
    "server",
    "mailbox",
]
LEGACY = [
    ("iso-8859-1", "Hej! Skrivaren på plan två fungerar inte. Hälsningar, Åsa Öberg"),
    ("windows-1251", "Добрый день! Принтер не работает. С уважением, Иван"),
    ("koi8-r", "Здравствуйте, не могу войти в почту."),
    ("shift_jis", "お世話になっております。プリンターが動きません。"),
    ("gb2312", "您好，打印机无法使用，谢谢。"),
]


def _text(rng: random.Random, n: int) -> str:
    lines = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(n)]
    return (
        "\n".join(lines) + "\n\nOn Mon, 4 Mar 2024 at 10:12, Helpdesk <s@x.com> wrote:\n> quoted\n"
    )


def _headers(rng: random.Random, i: int, subject: str, ctype: str) -> str:
    received = "".join(
        f"Received: from relay{k}.example.net by mx.example.com; Mon, 4 Mar 2024 10:1{k}:00 +0000\n"
        for k in range(rng.randint(2, 6))
    )
    return (
        f"{received}From: =?utf-8?q?User_{i}_=C3=85berg?= <user{i}@example.com>\n"
        f"To: Helpdesk <support@helpdesk.example.com>\nSubject: {subject}\n"
        f"Date: Mon, 4 Mar 2024 10:{i % 60:02d}:00 +0100\nMessage-ID: <m{i}@example.com>\n"
        f"X-Customer: {i}\nMIME-Version: 1.0\n{ctype}\n"
    )


def make_mail(rng: random.Random, i: int) -> bytes:
    """One message of a randomly chosen shape (mix as in a support mailbox)."""
    roll = rng.random()
    subject = f"Re: [TT{i}] " + " ".join(rng.choice(WORDS) for _ in range(5))
    body = _text(rng, rng.randint(3, 30))
    if roll < 0.40:
        mail = _headers(rng, i, subject, "Content-Type: text/plain; charset=utf-8") + "\n" + body
    elif roll < 0.55:
        html = (
            "<html><body>"
            + "".join(f"<p>{line}</p>" for line in body.splitlines())
            + "</body></html>"
        )
        mail = (
            _headers(
                rng,
                i,
                subject,
                "Content-Type: text/html; charset=utf-8\n"
                "Content-Transfer-Encoding: quoted-printable",
            )
            + "\n"
            + quopri.encodestring(html.encode()).decode()
        )
    elif roll < 0.75:
        html = "<div>" + body.replace("\n", "<br>") + "</div>"
        mail = (
            _headers(rng, i, subject, 'Content-Type: multipart/alternative; boundary="alt"') + "\n"
            f"--alt\nContent-Type: text/plain; charset=utf-8\n\n{body}\n--alt\n"
            f"Content-Type: text/html; charset=utf-8\n\n{html}\n--alt--\n"
        )
    elif roll < 0.90:
        parts = "".join(
            f'--mix\nContent-Type: application/pdf; name="file{k}.pdf"\n'
            "Content-Transfer-Encoding: base64\n"
            f'Content-Disposition: attachment; filename="file{k}.pdf"\n\n'
            + base64.encodebytes(rng.randbytes(rng.randint(5_000, 60_000))).decode()
            + "\n"
            for k in range(rng.randint(1, 3))
        )
        mail = (
            _headers(rng, i, subject, 'Content-Type: multipart/mixed; boundary="mix"') + "\n"
            f"--mix\nContent-Type: text/plain; charset=utf-8\n\n{body}\n{parts}--mix--\n"
        )
    else:
        charset, text = rng.choice(LEGACY)
        encoded = base64.b64encode(text.encode(charset)).decode()
        head = _headers(
            rng,
            i,
            f"=?{charset}?b?{encoded}?=",
            f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit",
        )
        return (head + "\n").replace("\n", "\r\n").encode() + (text + "\n").encode(charset)
    return mail.replace("\n", "\r\n").encode()


def stdlib_headers(raw: bytes) -> None:
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    (msg["Subject"], msg["From"], msg["To"], msg["Message-ID"], msg.get_all("X-Customer"))


def stdlib_full(raw: bytes) -> None:
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    for part in msg.walk():
        if part.is_multipart():
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            data = b""
        if part.get_content_type() == "text/plain" and not part.get_filename():
            data.decode(part.get_content_charset() or "utf-8", "replace")
        else:
            (len(data), hashlib.sha256(data).hexdigest())


def ours_headers(raw: bytes) -> None:
    parsed = parse_email(raw)
    (parsed.subject, parsed.from_, parsed.to, parsed.message_id, parsed.header("X-Customer"))


def ours_full(raw: bytes) -> None:
    parsed = parse_email(raw)
    _ = parsed.text_body
    for att in parsed.attachments:
        _ = (att.size, att.sha256)


def best_time(fn: Callable[[bytes], None], corpus: list[bytes], repeat: int) -> float:
    return best_times(fn, corpus, repeat)[0]


def best_times(
    fn: Callable[[bytes], None], corpus: list[bytes], repeat: int
) -> tuple[float, float]:
    """Best wall time and best CPU time of `repeat` passes over the corpus (CPU time is
    what to compare on a loaded machine: other processes inflate the wall clock)."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        for raw in corpus:
            fn(raw)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return min(walls), min(cpus)


def read_everything(raw: bytes) -> None:
    """What `mailscanner inspect --json` does: every field, reply split, attachments."""
    parsed = parse_email(raw)
    to_json_dict(parsed)
    _ = parsed.html_body


def cpu(fn: Callable[[bytes], None], raw: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(raw)
        best = min(best, time.process_time() - start)
    return best


def adversarial(repeat: int, target: int = 100_000) -> None:
    from mailscanner.tests.mail.adversarial import ADVERSARIAL

    print(f"\nhostile shapes, inspect-level work, CPU best of {repeat} (linear: 4x -> ~4x)")
    print(f"{'shape':<24} {'KB':>6} {'ms':>8} {'4x KB':>7} {'4x ms':>8} {'ratio':>6} {'ms/MB':>7}")
    for name, build in sorted(ADVERSARIAL.items()):
        n = 64
        while len(build(n)) < target and n < 1 << 22:
            n *= 2
        small, large = build(n), build(4 * n)
        t_small, t_large = cpu(read_everything, small, repeat), cpu(read_everything, large, repeat)
        print(
            f"{name:<24} {len(small) / 1e3:>6.0f} {t_small * 1e3:>8.1f} {len(large) / 1e3:>7.0f}"
            f" {t_large * 1e3:>8.1f} {t_large / max(t_small, 1e-9):>6.1f}"
            f" {t_large * 1e3 / (len(large) / 1e6):>7.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-adversarial", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus = [make_mail(rng, i) for i in range(args.count)]
    megabytes = sum(map(len, corpus)) / 1e6
    print(f"corpus: {len(corpus)} messages, {megabytes:.1f} MB, best of {args.repeat}")
    print(
        f"{'variant':<10} {'parser':<16} {'msg/s':>9} {'MB/s':>8} {'ms/msg':>7} {'cpu ms':>7}"
        "  ratio ours/stdlib (wall, cpu)"
    )
    for label, base, ours in (
        ("headers", stdlib_headers, ours_headers),
        ("full", stdlib_full, ours_full),
    ):
        t_base, c_base = best_times(base, corpus, args.repeat)
        t_ours, c_ours = best_times(ours, corpus, args.repeat)
        for name, elapsed, cpu_s in (
            ("stdlib compat32", t_base, c_base),
            ("parse_email", t_ours, c_ours),
        ):
            print(
                f"{label:<10} {name:<16} {len(corpus) / elapsed:>9.0f} {megabytes / elapsed:>8.1f} "
                f"{elapsed / len(corpus) * 1000:>7.3f} {cpu_s / len(corpus) * 1000:>7.3f}"
                + (
                    f"  {t_ours / t_base:.2f}x, {c_ours / c_base:.2f}x"
                    if name == "parse_email"
                    else ""
                )
            )
    t_inspect = best_time(read_everything, corpus, 1)
    print(
        f"{'inspect':<10} {'parse+reply+kind':<16} {len(corpus) / t_inspect:>9.0f} "
        f"{megabytes / t_inspect:>8.1f} {t_inspect / len(corpus) * 1000:>7.3f}"
        f"  ({t_inspect * 1e3 / megabytes:.0f} ms/MB)"
    )
    if not args.no_adversarial:
        adversarial(args.repeat)


if __name__ == "__main__":
    main()
