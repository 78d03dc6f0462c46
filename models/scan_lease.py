"""Who is scanning a mailbox right now: one row per lock key, the scan lock's lease.

Every way a scan starts (`mailscanner scan`, `runScanner`, the schedule, push, recovery;
embedded or arq workers; SQLite or PostgreSQL; any number of processes) takes the lease of
the scanner's key before it touches the mailbox (workers/lock.py `DatabaseLocks`). Taking it
is one conditional UPDATE (free, or expired) or one INSERT, so two starters can never both
win; the holder renews `expires_ms` while it scans, and a holder that died (SIGKILL, power
loss) simply stops renewing: its lease expires and the next starter takes over.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ScanLease(Model):
    """The scan lock of one scanner (its key), held by `owner` until `expires_ms`."""

    key = fields.CharField(max_length=200, primary_key=True)
    owner = fields.CharField(
        max_length=200, default="", description="host:pid:token of the holder (empty when free)"
    )
    expires_ms = fields.BigIntField(
        default=0, description="Epoch milliseconds after which the holder counts as dead"
    )
    taken_at = fields.DatetimeField(null=True, description="When the holder took it")

    class Meta:
        table = "ms_scan_lease"
