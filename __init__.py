"""Helpdesk Mail Scanner: support mailboxes in, tickets and email conversations out."""

__version__ = "0.1.0"
