"""Alembic environment: migrations run on the connection handed in by Database.migrate."""

from alembic import context

from hounsfield.index.schema import metadata
import hounsfield.auth.schema  # noqa: F401,E402 - the security tables share the metadata
import hounsfield.collab.schema  # noqa: F401,E402 - so do annotations and comments
import hounsfield.nodes  # noqa: F401,E402 - and the remote DICOM nodes

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for `alembic revision --autogenerate`
    from sqlalchemy import create_engine

    connection = create_engine(context.config.get_main_option("sqlalchemy.url")).connect()

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
