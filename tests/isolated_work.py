"""Module-level functions for tests/test_isolated.py: isolated workers import them by name."""
from __future__ import annotations

import os


def pid() -> int:
    return os.getpid()


def spin() -> int:
    n = 0
    while True:
        n += 1


def big_power() -> bool:
    return bool(((9**64)**64)**64**3 > 1)


def hog_memory() -> int:
    blocks = []
    while True:
        blocks.append(b"x" * (16 << 20))
    return len(blocks)


def recurse(n: int) -> int:
    return recurse(n + 1) + 1


def fail(message: str) -> None:
    raise ValueError(message)


def nap(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return os.getpid()
