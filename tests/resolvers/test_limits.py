from __future__ import annotations

import pytest

from mailscanner.resolvers.schema import MAX_ALIASES, MAX_DEPTH

from .conftest import Api


async def test_a_query_nested_deeper_than_the_limit_is_refused(api: Api) -> None:
    deep = "name"
    for _ in range(MAX_DEPTH + 1):
        deep = f"me {{ {deep} }}"
    response = await api.post("{ " + deep + " }")
    assert response.status_code == 200
    messages = [e["message"] for e in response.json()["errors"]]
    assert f"'anonymous' exceeds maximum operation depth of {MAX_DEPTH}" in messages


async def test_too_many_aliases_are_refused(api: Api) -> None:
    fields = " ".join(f"a{i}: me {{ name }}" for i in range(MAX_ALIASES + 1))
    body = (await api.post("{ " + fields + " }")).json()
    assert body["errors"][0]["message"] == (
        f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}"
    )


async def test_an_unexpected_error_is_masked_and_a_public_one_is_not(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailscanner.schema.people import UserType

    def explode(cls: object, row: object) -> None:
        raise RuntimeError("password=hunter2 at /srv/app/internal.py")

    monkeypatch.setattr(UserType, "from_model", classmethod(explode))
    body = (await api.post("{ me { name } }")).json()
    assert body["errors"][0]["message"] == "Unexpected error; it was logged on the server"
    assert "hunter2" not in str(body)
    public = (await api.post('{ tickets(after: "!!") { totalCount } }')).json()
    assert public["errors"][0]["message"] == "invalid cursor '!!'"
