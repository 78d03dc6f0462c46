"""Where file bytes live: a content-addressed blob store (blobs.py) and the attachment
rows that reference it (attachments.py)."""
