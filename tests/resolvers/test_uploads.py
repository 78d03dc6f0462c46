"""addComment's attachments (GraphQL multipart request spec): limits and typed errors."""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx2

from mailscanner.app import create_app
from mailscanner.models import Attachment, Comment, Role, Ticket
from mailscanner.resolvers.auth import create_token
from mailscanner.settings import Settings
from mailscanner.storage.attachments import policy_for

from .conftest import Api

MUTATION = """
mutation($t: ID!, $files: [Upload!]) {
  addComment(ticketId: $t, body: "files", internal: true, attachments: $files) {
    __typename
    ... on CommentPayload { comment { attachments { filename contentType size sha256 } } }
    ... on ValidationError { errors { field code message } }
  }
}"""


async def _post(client: httpx2.AsyncClient, token: str | None, ticket_id: int,
                files: list[tuple[str, bytes, str]]) -> httpx2.Response:
    operations = {"query": MUTATION, "variables": {"t": str(ticket_id),
                                                   "files": [None] * len(files)}}
    mapping = {str(i): [f"variables.files.{i}"] for i in range(len(files))}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post(
        "/graphql", headers=headers,
        data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        files={str(i): f for i, f in enumerate(files)})


def _result(response: httpx2.Response) -> Any:
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    return body["data"]["addComment"]


async def test_files_are_stored_with_a_clean_name_and_a_checked_type(
    api: Api, db: Settings
) -> None:
    ticket = await Ticket.create(number="TT1", title="t")
    response = await _post(api.client, api.agent_token, ticket.id, [
        ("C:\\Users\\ann\\scan 1.png", b"\x89PNG data", "image/png"),
        ("../../etc/evil.bin", b"data", "bogus type"),
    ])
    files = _result(response)["comment"]["attachments"]
    assert [(f["filename"], f["contentType"], f["size"]) for f in files] == [
        ("scan 1.png", "image/png", 9), ("evil.bin", "application/octet-stream", 4)]
    row = await Attachment.get(filename="scan 1.png")
    assert policy_for(db).store.exists(str(row.storage_key))


async def test_more_files_than_the_limit_is_a_typed_error_and_nothing_is_saved(api: Api) -> None:
    ticket = await Ticket.create(number="TT1", title="t")
    response = await _post(api.client, api.agent_token, ticket.id,
                           [(f"f{i}.txt", b"x", "text/plain") for i in range(11)])
    result = _result(response)
    assert result["__typename"] == "ValidationError"
    assert [(e["field"], e["code"], e["message"]) for e in result["errors"]] == [
        ("attachments", "TOO_MANY", "At most 10 items (this has 11)")]
    assert await Comment.all().count() == 0


async def test_a_file_over_the_attachment_limit_is_refused_naming_it(db: Settings) -> None:
    # given: a 1 KiB attachment limit
    app = create_app(replace(db, max_attachment_bytes=1024), start_services=False)
    token = await create_token(Role.AGENT, "agent", "Aldo Agent")
    ticket = await Ticket.create(number="TT1", title="t")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url="http://testserver") as client:
        # when: one file is too big
        one = _result(await _post(client, token, ticket.id, [
            ("small.txt", b"s" * 100, "text/plain"), ("big.bin", b"b" * 2000, "x/y")]))
        # and: each is fine but together they are too big
        both = _result(await _post(client, token, ticket.id, [
            ("a.bin", b"a" * 800, "x/y"), ("b.bin", b"b" * 800, "x/y")]))
        # and: the body is over the upload cap (attachment limit + request limit)
        capped = await _post(client, token, ticket.id,
                             [("huge.bin", b"h" * (db.max_request_bytes + 4096), "x/y")])
    # then
    assert one["__typename"] == "ValidationError"
    assert [(e["field"], e["code"]) for e in one["errors"]] == [("attachments[1]", "TOO_LARGE")]
    assert "big.bin is 2000 bytes, over the limit of 1024 bytes" in one["errors"][0]["message"]
    assert [(e["field"], e["code"]) for e in both["errors"]] == [("attachments", "TOO_LARGE")]
    assert capped.status_code == 413
    assert capped.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert await Comment.all().count() == 0 and await Attachment.all().count() == 0


async def test_an_upload_bigger_than_the_json_cap_is_accepted_as_multipart(api: Api) -> None:
    # given: a file larger than MAILSCANNER_MAX_REQUEST_BYTES (1 MiB), under 25 MiB
    ticket = await Ticket.create(number="TT1", title="t")
    data = b"z" * (1024 * 1024 + 10)
    # when
    files = _result(await _post(api.client, api.agent_token, ticket.id,
                                [("scan.tiff", data, "image/tiff")]))["comment"]["attachments"]
    # then
    assert files[0]["size"] == len(data)


async def test_an_upload_without_a_token_executes_nothing(api: Api) -> None:
    ticket = await Ticket.create(number="TT1", title="t")
    response = await _post(api.client, None, ticket.id, [("a.txt", b"a", "text/plain")])
    assert response.status_code == 401
    assert await Comment.all().count() == 0
