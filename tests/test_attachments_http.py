"""GET /attachments/{id}: auth, safe headers, ETag, Range, and the helpers behind them."""
# ruff: noqa: F811
from __future__ import annotations

import hashlib

import pytest

from mailscanner.attachments_http import content_disposition, safe_content_type
from mailscanner.models import Attachment, SkippedReason, Ticket
from mailscanner.settings import Settings
from mailscanner.storage.attachments import policy_for

from .resolvers.conftest import Api, api  # noqa: F401

DATA = bytes(range(256)) * 64  # 16 KiB


async def _file(db: Settings, filename: str = "report.pdf",
                content_type: str = "application/pdf", data: bytes = DATA) -> Attachment:
    blob = policy_for(db).store.put([data])
    ticket = await Ticket.get_or_none(number="TT1") or await Ticket.create(number="TT1", title="t")
    return await Attachment.create(ticket=ticket, filename=filename, content_type=content_type,
                                   size=blob.size, sha256=blob.sha256, storage_key=blob.key)


def _auth(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.agent_token}"}


async def test_without_a_token_it_is_401_json_and_with_a_bad_one_too(
    api: Api, db: Settings
) -> None:
    row = await _file(db)
    response = await api.client.get(f"/attachments/{row.id}")
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].startswith("Bearer")
    response = await api.client.get(f"/attachments/{row.id}",
                                    headers={"Authorization": "Bearer mst_nope"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"


@pytest.mark.parametrize("path", ["/attachments/999", "/attachments/abc",
                                  "/attachments/" + "9" * 40])
async def test_an_unknown_id_is_404_json(api: Api, path: str) -> None:
    response = await api.client.get(path, headers=_auth(api))
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_skipped_file_has_nothing_to_download(api: Api) -> None:
    ticket = await Ticket.create(number="TT9", title="t")
    row = await Attachment.create(ticket=ticket, filename="huge.iso", size=10**9,
                                  skipped_reason=SkippedReason.TOO_LARGE)
    response = await api.client.get(f"/attachments/{row.id}", headers=_auth(api))
    assert response.status_code == 404
    assert "skipped" in response.json()["errors"][0]["message"]


async def test_the_bytes_come_with_etag_length_and_a_safe_disposition(
    api: Api, db: Settings
) -> None:
    row = await _file(db, filename='evil"\r\nX-Injected: 1.pdf')
    response = await api.client.get(f"/attachments/{row.id}", headers=_auth(api))
    assert response.status_code == 200 and response.content == DATA
    assert response.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["accept-ranges"] == "bytes"
    assert "x-injected" not in response.headers
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"evil___X-Injected_ 1.pdf\"; "
        "filename*=UTF-8''evil%22%0D%0AX-Injected%3A%201.pdf")
    # a client that has it already gets 304
    again = await api.client.get(f"/attachments/{row.id}",
                                 headers={**_auth(api), "If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_a_range_request_gets_206_with_just_those_bytes(api: Api, db: Settings) -> None:
    row = await _file(db)
    response = await api.client.get(f"/attachments/{row.id}",
                                    headers={**_auth(api), "Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.content == DATA[100:200]
    assert response.headers["content-range"] == f"bytes 100-199/{len(DATA)}"
    tail = await api.client.get(f"/attachments/{row.id}",
                                headers={**_auth(api), "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == DATA[-10:]
    beyond = await api.client.get(f"/attachments/{row.id}",
                                  headers={**_auth(api), "Range": f"bytes={len(DATA) + 5}-"})
    assert beyond.status_code == 416


@pytest.mark.parametrize("declared", ["text/html", "image/svg+xml", "application/xhtml+xml",
                                      "application/javascript", "text/xml", "not a type",
                                      "TEXT/HTML; charset=utf-8"])
async def test_what_a_browser_would_run_is_served_as_octet_stream(
    api: Api, db: Settings, declared: str
) -> None:
    row = await _file(db, filename="page.html", content_type=declared, data=b"<script>x</script>")
    response = await api.client.get(f"/attachments/{row.id}", headers=_auth(api))
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"


def test_harmless_types_are_kept_and_names_always_give_a_header() -> None:
    assert safe_content_type("image/png") == "image/png"
    assert safe_content_type("application/pdf") == "application/pdf"
    assert safe_content_type("Text/Plain; charset=latin-1") == "text/plain"
    assert content_disposition("") == "attachment; filename=\"attachment\"; " \
        "filename*=UTF-8''attachment"
    assert content_disposition("日本語.txt").endswith(
        "filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt")


async def test_head_gives_the_headers_without_the_bytes(api: Api, db: Settings) -> None:
    row = await _file(db)
    response = await api.client.head(f"/attachments/{row.id}", headers=_auth(api))
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
