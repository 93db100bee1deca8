"""Migration 54: every staff photo hash names a stored photo, or there is none.

Until 2026-12-05 ``POST /api/v1/staff`` (and, until the roster files lost that column, an
imported file) took any text of up to 64 characters as ``staff.photo_sha256``: a hash of a
photo never uploaded, one typed in capitals, a file name. Every kiosk of that person's window
asked the server for it at each config pull, for ever, and showed the avatar; an API client
that sent back the record it had read was refused ("photo_sha256 … does not exist").
``org.save_staff`` refuses such hashes since then; this mends the rows stored before:

- a hash that names a stored photo once trimmed and in lower case (photos are named by the
  lower-case hex SHA-256 of their bytes, and a kiosk takes no other form) is stored so;
- any other is cleared: the person shows no photo (the avatar) until one is attached with
  ``POST /api/v1/photos`` and ``POST /api/v1/staff``, which now says what is missing.

A new config version when a row changed (``org.bump_version``). The config builder sends only
hashes of stored photos in any case (``device_config._stored_photos``).

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import bindparam, column, table, text

NAME = "staff photo hashes name stored photos"


def upgrade(conn) -> None:
    stored = set(conn.execute(text("SELECT sha256 FROM photos")).scalars())
    rows = conn.execute(text("SELECT id, photo_sha256 FROM staff "
                             "WHERE photo_sha256 IS NOT NULL")).all()
    changes = []
    for staff_id, sha in rows:
        if sha in stored:
            continue
        mended = sha.strip().lower()
        changes.append({"key": staff_id, "sha": mended if mended in stored else None})
    if not changes:
        return
    people = table("staff", column("id"), column("photo_sha256"))
    conn.execute(people.update().where(people.c.id == bindparam("key"))
                 .values(photo_sha256=bindparam("sha")), changes)
    # what the kiosks show changed: a new config version, as org.bump_version gives one
    version = conn.execute(text("SELECT value FROM meta_kv WHERE key = 'config_version'")) \
        .scalar()
    if version is None:
        conn.execute(text("INSERT INTO meta_kv (key, value) VALUES ('config_version', '2')"))
    else:
        conn.execute(text("UPDATE meta_kv SET value = :v WHERE key = 'config_version'"),
                     {"v": str(int(version) + 1)})
