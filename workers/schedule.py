"""Hooks the API calls when scheduling-relevant state changes."""
from __future__ import annotations


async def scanner_activation_changed(scanner_id: int, active: bool) -> None:
    """Activation takes effect at the next cron tick, which reads `Scanner.active`.

    The workers layer may replace this to enqueue a first scan at once.
    """
