"""Dovecot servers of the push tests: their own, so a test may restart one or strip IDLE.

The session's shared server (tests/fixtures/dovecot.py) keeps Dovecot's default of 100
`imap` processes and must never restart under other tests; these start per module.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..fixtures.dovecot import DovecotServer, start_dovecot, stop_dovecot

PUSH_CONF = """
service imap {
  process_limit = 1000
}
"""
# Dovecot 2.3's post-login capabilities with IDLE left out (and CONDSTORE, so the cheap
# check compares UIDNEXT and UNSEEN, as on the simplest servers).
NO_IDLE_CONF = """
protocol imap {
  imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ NAMESPACE UIDPLUS MOVE \
    MULTIAPPEND UNSELECT CHILDREN SPECIAL-USE
}
"""


@pytest.fixture(scope="module")
def push_dovecot() -> Iterator[DovecotServer]:
    server = start_dovecot(extra_conf=PUSH_CONF)
    try:
        yield server
    finally:
        stop_dovecot(server)


@pytest.fixture(scope="module")
def no_idle_dovecot() -> Iterator[DovecotServer]:
    server = start_dovecot(extra_conf=NO_IDLE_CONF)
    try:
        yield server
    finally:
        stop_dovecot(server)


def connections(server: DovecotServer, user: str) -> int:
    """IMAP sessions of `user` that Dovecot itself counts (`doveadm who`)."""
    out = subprocess.run(
        ["doveadm", "-c", str(Path(server.dir) / "dovecot.conf"), "who", "-1", user],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(1 for line in out.splitlines()[1:] if line.split() and line.split()[0] == user)
