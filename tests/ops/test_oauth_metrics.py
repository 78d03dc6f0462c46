"""OAuth refresh failures in the metrics, against the local fake Microsoft authority."""
from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from mailscanner.ops.metrics import REGISTRY
from mailscanner.transport.errors import OAuthError, ReauthorizationNeeded
from mailscanner.transport.providers.tokens import get_access_token

from ..fixtures.microsoft import FakeMicrosoft
from ..transport.providers.test_microsoft import authorize
from .metrics_text import Samples, delta, parse


def _scrape() -> Samples:
    return parse(generate_latest(REGISTRY).decode())


async def test_refresh_failures_are_counted_by_provider_and_kind(
        microsoft_app: FakeMicrosoft) -> None:
    account = await authorize(microsoft_app)
    microsoft_app.expire_access_tokens()
    before = _scrape()
    # when Microsoft cannot be reached, then refuses the grant
    microsoft_app.unreachable = True
    with pytest.raises(OAuthError):
        await get_access_token(account.id)
    microsoft_app.unreachable = False
    microsoft_app.revoke_grant("alice")
    with pytest.raises(ReauthorizationNeeded):
        await get_access_token(account.id)
    # then each failure is counted once, under its kind
    after = _scrape()
    name = "mailscanner_oauth_refresh_failures_total"
    assert delta(before, after, name, provider="microsoft", kind="error") == 1
    assert delta(before, after, name, provider="microsoft", kind="reauthorization_needed") == 1
