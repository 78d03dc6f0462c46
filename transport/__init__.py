"""Transport: how mail moves — IMAP sessions, SMTP connections, OAuth token providers, and the
one table that turns their low-level failures into errors an admin can act on.

Message understanding (MIME, headers, reply text, classification) lives in `mail/`;
outbound composition (templates, outbox, Message-IDs) in `outbound/`.
"""
