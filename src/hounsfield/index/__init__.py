"""The index: a relational database of patients, studies, series and instances.

SQLite (WAL) by default, PostgreSQL for scale-out; both through SQLAlchemy Core. It knows
nothing of protocols and nothing of the blob store.
"""

from hounsfield.index.database import Database

__all__ = ["Database"]
