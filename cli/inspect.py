"""`mailscanner inspect FILE [--json]`: show how the scanner reads one raw message."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import Any

from ..mail.parsing import Address, ParsedEmail, parse_email
from ..mail.reply import extract_reply


def register(subparsers: Any) -> None:
    """Add the ``inspect`` subcommand to the ``mailscanner`` parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "inspect", help="parse one .eml file (or - for stdin) and show what the scanner sees"
    )
    parser.add_argument("file", metavar="FILE", help="raw RFC 5322 message; - reads stdin")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def _address(addr: Address | None) -> dict[str, str] | None:
    return None if addr is None else {"address": addr.address, "name": addr.name}


def _info(info: object) -> dict[str, Any] | None:
    if info is None:
        return None
    fields: dict[str, Any] = asdict(info)  # type: ignore[call-overload]
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def to_json_dict(parsed: ParsedEmail) -> dict[str, Any]:
    """The inspect JSON shape (also used by the fixture tests)."""
    reply = extract_reply(parsed.text_body, parsed.html_body or None, subject=parsed.subject)
    bounce = parsed.bounce
    report = parsed.delivery_report
    feedback = parsed.feedback
    return {
        "subject": parsed.subject,
        "from": _address(parsed.from_),
        "to": [_address(a) for a in parsed.to],
        "cc": [_address(a) for a in parsed.cc],
        "reply_to": [_address(a) for a in parsed.reply_to],
        "date": parsed.date.isoformat() if parsed.date else None,
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "references": list(parsed.references),
        "text_body": parsed.text_body,
        "html_body": parsed.html_body,
        "reply_text": reply.reply_text,
        "quoted_text": reply.quoted_text,
        "signature": reply.signature,
        "kind": parsed.kind,
        "kind_reason": parsed.kind_reason,
        "bounce": None
        if bounce is None
        else {
            "recipients": list(bounce.recipients),
            "status": bounce.status,
            "original_message_id": bounce.original_message_id,
        },
        "delivery_report": _info(report),
        "feedback": _info(feedback),
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "inline": a.inline,
            }
            for a in parsed.attachments
        ],
        "defects": list(parsed.defects),
    }


def _summary(data: dict[str, Any]) -> str:
    sender = data["from"] or {"address": "", "name": ""}
    lines = [
        f"Subject:  {data['subject']}",
        f"From:     {sender['name']} <{sender['address']}>".replace(" <>", ""),
        f"To:       {', '.join(a['address'] for a in data['to'])}",
        f"Date:     {data['date'] or '-'}",
        f"Kind:     {data['kind']}" + (f" ({data['kind_reason']})" if data["kind_reason"] else ""),
    ]
    labels = (("bounce", "Bounce"), ("delivery_report", "Report"), ("feedback", "Feedback"))
    for key, label in labels:
        info = data[key]
        if info:
            detail = info.get("status") or info.get("feedback_type") or ""
            lines.append(f"{label + ':':<9} {', '.join(info['recipients'])} {detail}".rstrip())
    for att in data["attachments"]:
        lines.append(
            f"Attach:   {att['filename'] or '(unnamed)'} {att['content_type']} {att['size']} B"
        )
    if data["defects"]:
        lines.append(f"Defects:  {'; '.join(data['defects'])}")
    lines += ["", "Reply:", data["reply_text"] or "(empty)"]
    if data["signature"]:
        lines += ["", "Signature:", data["signature"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Read, parse and print; exit 0 for any readable input, 2 for an unreadable path."""
    try:
        if args.file == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as handle:
                raw = handle.read()
    except OSError as exc:
        print(
            f"mailscanner inspect: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    data = to_json_dict(parse_email(raw))
    out = json.dumps(data, ensure_ascii=False, indent=2) if args.json else _summary(data)
    try:
        sys.stdout.write(out + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`): that is not an error, as for cat or git.
        # Python flushes stdout again at exit, so point it at /dev/null before that.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0
