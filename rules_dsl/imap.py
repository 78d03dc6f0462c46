"""Which part of a rule an IMAP server could answer with `UID SEARCH`.

`search_criteria(root)` returns imapclient-style criteria (e.g. `["SUBJECT", "invoice",
"FROM", "@acme.com"]`) for the searchable conjuncts of a rule: `contains` on subject, from,
to, cc, bcc or a header, and size comparisons. The server's answer is a superset of the
rule's matches (IMAP SEARCH is a case-insensitive substring match, and conjuncts that are
not searchable are left out), so the compiled rule must still run on what it returns.
Needles must be ASCII: Unicode casefolding (ß -> ss) is not what IMAP servers do. Returns
None when nothing in the rule is searchable, or the rule is an `or`/`not` at the top.
"""
from __future__ import annotations

from .ast import And, Condition, Node

_KEYS = {"subject": "SUBJECT", "from": "FROM", "to": "TO", "cc": "CC", "bcc": "BCC"}


def search_criteria(root: Node) -> list[str] | None:
    """IMAP SEARCH criteria preselecting a superset of the rule's matches, or None."""
    conjuncts = root.children if isinstance(root, And) else (root,)
    criteria: list[str] = []
    for node in conjuncts:
        if isinstance(node, Condition):
            criteria += _criterion(node)
    return criteria or None


def _criterion(node: Condition) -> list[str]:
    if node.field == "size" and isinstance(node.value, int):
        n = node.value
        # LARGER/SMALLER are strict; >= n is LARGER n-1, <= n is SMALLER n+1.
        table = {"gt": ["LARGER", str(n)], "ge": ["LARGER", str(max(n - 1, 0))],
                 "lt": ["SMALLER", str(n)], "le": ["SMALLER", str(n + 1)]}
        return table.get(node.op, [])
    if node.op != "contains" or node.every or not isinstance(node.value, str):
        return []
    if not node.value or not node.value.isascii():
        return []
    if node.field == "header" and node.header:
        return ["HEADER", node.header, node.value]
    imap_key = _KEYS.get(node.field)
    return [imap_key, node.value] if imap_key else []
