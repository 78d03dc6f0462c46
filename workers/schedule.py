"""Hooks the API calls when scheduling-relevant state changes."""
from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


async def scanner_activation_changed(scanner_id: int, active: bool) -> None:
    """Activation queues a first scan at once; later scans follow the cron tick, which reads
    `Scanner.active` (so deactivation needs nothing here: see `workers.runtime`). Watchers
    are told either way."""
    from ..watch.supervisor import notify_scanner_changed
    from .queue import QueueNotConfigured
    from .runtime import on_scanner_activated, on_scanner_deactivated

    await notify_scanner_changed(scanner_id)  # watchers open or close its connections now
    try:
        if active:
            await on_scanner_activated(scanner_id)
        else:
            await on_scanner_deactivated(scanner_id)
    except QueueNotConfigured:  # an API built without services (tests): the cron will see it
        logger.debug("no job queue; scanner %s waits for the next tick", scanner_id)
