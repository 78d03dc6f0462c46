"""Warnings a scan leaves for an admin: things to fix that did not stop the scan.

A rule's folder that no longer exists on the server (deleted or renamed by someone) is one:
failing the whole run for it would back the mailbox off and delay the mail of every other
folder (issue 13 measured 214 s instead of ~60 s for new INBOX mail). So the other folders
are scanned on time, the run ends SUCCEEDED with the warning, and the scanner's health shows
it (the folder and the rules that read it) until a scan finds the folder again.
Stored as JSON on the run and on the scanner: {"code", "message", "folder", "rules": [...]}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .process import LoadedRule

__all__ = ["FOLDER_MISSING", "ScanWarning", "missing_folder_warning"]

FOLDER_MISSING = "FOLDER_MISSING"
ScanWarning = dict[str, Any]  # the JSON shape above


def missing_folder_warning(folder: str, rules: Sequence[LoadedRule]) -> ScanWarning:
    users = [{"id": r.model.id, "name": r.model.name} for r in rules if folder in r.folders]
    names = ", ".join(f'"{u["name"]}"' for u in users)
    return {
        "code": FOLDER_MISSING,
        "folder": folder,
        "rules": users,
        "message": (
            f'The folder "{folder}" does not exist in the mailbox any more, so rule(s) {names} '
            "read nothing from it. The other folders were scanned. Create the folder again "
            "or choose another folder for these rules."
        ),
    }
