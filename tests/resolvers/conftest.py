"""An in-process API client with an admin and an agent token on the test database."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from mailscanner.app import create_app
from mailscanner.models import Role
from mailscanner.resolvers.auth import create_token
from mailscanner.settings import Settings


@dataclass
class Api:
    client: httpx2.AsyncClient
    admin_token: str
    agent_token: str

    async def post(self, query: str, variables: dict[str, Any] | None = None,
                   token: str | None = "admin") -> httpx2.Response:
        headers = {}
        if token is not None:
            clear = {"admin": self.admin_token, "agent": self.agent_token}.get(token, token)
            headers["Authorization"] = f"Bearer {clear}"
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def gql(self, query: str, variables: dict[str, Any] | None = None,
                  token: str | None = "admin") -> dict[str, Any]:
        """The `data` of a successful response; fails the test on GraphQL errors."""
        response = await self.post(query, variables, token)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
async def api(db: Settings) -> AsyncIterator[Api]:
    app = create_app(db, start_services=False)
    admin = await create_token(Role.ADMIN, "admin", "Ada Admin")
    agent = await create_token(Role.AGENT, "agent", "Aldo Agent")
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client=client, admin_token=admin, agent_token=agent)
