"""Migration 51: an account whose password someone else set must change it first.

``users.must_change_password``: set when a password is chosen for another person (a unit
manager opening a staff member's account, the CLI's ``create-user`` / ``set-password`` for
any role but an admin, unless asked); cleared when the user changes it on their account
page. Until then every dashboard page sends the user to that page, so whoever chose the
password cannot use the account in the user's name (a manager filed a staff member's peer
reviews). Existing accounts start unmarked: their passwords are what they were.

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, MetaData, false

NAME = "users must change a password set by someone else"


def _column() -> Column:
    return Column("must_change_password", Boolean, nullable=False, default=False,
                  server_default=false())


def define(md: MetaData) -> None:
    """Add the column to ``md``'s users table."""
    if "users" in md.tables and "must_change_password" not in md.tables["users"].c:
        md.tables["users"].append_column(_column())


def upgrade(conn) -> None:
    column = _column()
    kind = column.type.compile(dialect=conn.dialect)
    default = "false" if conn.dialect.name == "postgresql" else "0"
    conn.exec_driver_sql(f"ALTER TABLE users ADD COLUMN {column.name} {kind} "
                         f"NOT NULL DEFAULT {default}")
