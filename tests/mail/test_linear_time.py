"""Parsing stays roughly linear in the message size, whatever its structure.

Each hostile shape (tests/mail/adversarial.py) is parsed and read in full (everything
`inspect` shows) at a size n and at 4n, in this one test run, and the CPU times compared:
linear work gives about 4x, quadratic work 16x. The limit, 8x, leaves room for a loaded
machine; it is a ratio measured in the same run, never a time limit. n grows until the
small run takes at least 20 ms of CPU, so timer noise cannot decide.
"""

from __future__ import annotations

import time

import pytest

from mailscanner.cli.inspect import to_json_dict
from mailscanner.mail.parsing import parse_email

from .adversarial import ADVERSARIAL

MIN_SECONDS = 0.02
MAX_BYTES = 1_500_000


def read_everything(raw: bytes) -> None:
    parsed = parse_email(raw)
    to_json_dict(parsed)  # bodies, reply split, signature, kind, attachments, defects
    _ = parsed.html_body, parsed.headers


def cpu_seconds(raw: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        read_everything(raw)
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize("shape", sorted(ADVERSARIAL))
def test_parse_time_grows_linearly_with_hostile_input(shape: str) -> None:
    build = ADVERSARIAL[shape]
    n = 500
    small = build(n)
    while cpu_seconds(small) < MIN_SECONDS and len(small) * 8 < MAX_BYTES:
        n *= 2
        small = build(n)
    large = build(4 * n)
    ratio = cpu_seconds(large) / max(cpu_seconds(small), 1e-6)
    assert ratio < 8, f"{shape}: 4x the input took {ratio:.1f}x the time (n={n})"
