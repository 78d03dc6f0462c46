"""IMAP folder names: modified UTF-7 decoding, hierarchy delimiters, special-use flags.

imapclient already encodes and decodes folder names (RFC 3501 modified UTF-7) when
`folder_encode` is on, which `ImapSession` keeps; these helpers cover what it does not:
bytes names from servers that send them raw, and joining paths with the server's delimiter.
"""

from __future__ import annotations

from dataclasses import dataclass

from imapclient import imap_utf7

__all__ = ["FolderInfo", "decode_name", "join_path", "split_path"]


@dataclass(frozen=True)
class FolderInfo:
    """One folder of the live list: `name` is the full decoded path ("Tickets/Done")."""

    name: str
    delimiter: str | None
    flags: tuple[str, ...] = ()

    @property
    def selectable(self) -> bool:
        return "\\Noselect" not in self.flags and "\\NonExistent" not in self.flags

    @property
    def parts(self) -> list[str]:
        return split_path(self.name, self.delimiter)

    @property
    def special_use(self) -> str | None:
        """`\\Sent`, `\\Trash`, ... (RFC 6154) when the server marks the folder."""
        for flag in self.flags:
            if flag in {
                "\\All",
                "\\Archive",
                "\\Drafts",
                "\\Flagged",
                "\\Junk",
                "\\Sent",
                "\\Trash",
            }:
                return flag
        return None


def decode_name(name: str | bytes) -> str:
    """A folder name as a person reads it: `b"&AMk-t&AOk-"` -> `"Été"`."""
    if isinstance(name, bytes):
        return str(imap_utf7.decode(name))
    return name


def _text(value: str | bytes) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def from_list_entry(
    flags: tuple[bytes | str, ...], delimiter: bytes | str | None, name: str | bytes
) -> FolderInfo:
    """Build a FolderInfo from one imapclient `list_folders()` triple."""
    return FolderInfo(
        name=decode_name(name),
        delimiter=_text(delimiter) if delimiter else None,
        flags=tuple(_text(f) for f in flags),
    )


def split_path(name: str, delimiter: str | None) -> list[str]:
    return name.split(delimiter) if delimiter else [name]


def join_path(parts: list[str], delimiter: str | None) -> str:
    """Join path parts with the server's delimiter ("/" or "."); a flat server gets one part."""
    if not delimiter:
        return "".join(parts)
    return delimiter.join(parts)
