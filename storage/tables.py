"""The one typed way to get a SQLModel table model's ``Table``."""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import SQLModel


def table_of(model: type[SQLModel]) -> Table:
    """A table model's ``Table``: SQLModel sets ``__table__`` at class creation, but its
    types do not declare it, so every ``Model.__table__`` would otherwise be an error."""
    table: Table = getattr(model, "__table__")
    return table
