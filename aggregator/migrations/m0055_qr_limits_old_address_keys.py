"""Migration 55: forget the QR limit keys that name a citizen's address.

Until 2026-12-03 (6d4f1da) the phone page kept its limits under keys holding the client's
address in clear, ``<address>|<window>|r``, stamped with the same time as the rating they
limited, so each key told which address sent which rating. 6d4f1da hashed the keys and its
releases dropped the old ones as they expired, by key prefix; since migration 53 old keys are
forgotten by kind (``b|`` … ``f|``, ``qr_page._forget_old``), and a key of no kind is never
forgotten. A site that upgraded from before 6d4f1da straight to a release with migration 53
kept every such key for ever, and in every backup.

No kept limit depends on them (the page writes none since 6d4f1da): every key that is not of
a kind the page writes (``b|`` browser, ``c|`` address hash, ``d|`` day budget, ``e|``,
``f|`` follow-up link) is deleted. An IPv6 address may begin with one of those letters; the
``|`` after it tells them apart.

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import text

NAME = "QR limit keys naming an address forgotten"


def upgrade(conn) -> None:
    conn.execute(text("DELETE FROM qr_limits WHERE substr(client_key, 1, 2) NOT IN "
                      "('b|', 'c|', 'd|', 'e|', 'f|')"))
