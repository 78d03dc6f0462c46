"""Outbound email: templates and their tags, the outbox row a comment queues, the MIME
message built from it, and our Message-IDs that let replies find their ticket."""
