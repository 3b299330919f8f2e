"""Remote DICOM nodes: those of the ``dicom.remote_nodes`` setting (read-only) and those
an administrator adds in the web application (the ``remote_nodes`` table). Both are C-MOVE
destinations; the setting wins when both name the same AE title.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import (
    Boolean, Column, DateTime, Index, Integer, String, Table, delete, insert, select, update,
)
from sqlalchemy.exc import IntegrityError

from hounsfield.config import Settings
from hounsfield.dicom.client import AssociationRejected, open_association, verification_context
from hounsfield.dicom.dul import AssociationClosed
from hounsfield.dicom.tls import client_ssl_context_from_settings
from hounsfield.errors import Conflict, InvalidRequest, NotFound
from hounsfield.index import Database
from hounsfield.index.schema import metadata

__all__ = ["RemoteNode", "create_node", "delete_node", "echo", "find_node", "get_node",
           "list_nodes", "remote_nodes", "update_node"]

remote_nodes = Table(
    "remote_nodes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ae_title", String(16), nullable=False),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("tls", Boolean, nullable=False, server_default="0"),
    Column("description", String(256), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_remote_nodes_ae_title", "ae_title", unique=True),
)


@dataclass(frozen=True)
class RemoteNode:
    """One remote node; ``id`` is None for a node of the setting (its ``name`` is the
    setting's key)."""

    id: int | None
    ae_title: str
    host: str
    port: int
    tls: bool
    description: str
    source: str  # settings | database
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["name"]
        return out


def _from_settings(settings: Settings) -> list[RemoteNode]:
    return [RemoteNode(None, str(node.get("ae_title", name)).strip(), str(node["host"]),
                       int(node["port"]), bool(node.get("tls")),
                       str(node.get("description", name)), "settings", name)
            for name, node in settings["dicom.remote_nodes"].items()]


def _from_row(row: Any) -> RemoteNode:
    return RemoteNode(row.id, row.ae_title, row.host, row.port, bool(row.tls),
                      row.description, "database", row.ae_title)


def list_nodes(db: Database, settings: Settings) -> list[RemoteNode]:
    """Nodes of the setting, then those of the database by AE title."""
    with db.read() as conn:
        rows = conn.execute(select(remote_nodes).order_by(remote_nodes.c.ae_title)).all()
    return _from_settings(settings) + [_from_row(r) for r in rows]


def get_node(db: Database, node_id: int) -> RemoteNode:
    with db.read() as conn:
        row = conn.execute(select(remote_nodes).where(remote_nodes.c.id == node_id)).first()
    if row is None:
        raise NotFound(f"Remote node {node_id} does not exist")
    return _from_row(row)


def find_node(db: Database, settings: Settings, ae_title: str) -> RemoteNode | None:
    """The node whose AE title is ``ae_title`` (a C-MOVE destination)."""
    wanted = ae_title.strip()
    for node in _from_settings(settings):
        if node.ae_title == wanted:
            return node
    with db.read() as conn:
        row = conn.execute(select(remote_nodes).where(remote_nodes.c.ae_title == wanted)
                           ).first()
    return _from_row(row) if row is not None else None


def _checked(ae_title: str, host: str, port: int, description: str) -> dict[str, Any]:
    ae = ae_title.strip()
    # PS3.5 6.2: an AE title is 1-16 characters of the default repertoire, no backslash or
    # control characters, and not only spaces.
    if not ae or len(ae) > 16 or "\\" in ae or not all(" " <= c <= "~" for c in ae):
        raise InvalidRequest(f'Argument "ae_title" must be 1 to 16 printable ASCII characters '
                             f'without backslash, not {ae_title!r}.')
    if not host.strip() or len(host) > 255 or any(c.isspace() or c == "/" for c in host.strip()):
        raise InvalidRequest(f'Argument "host" must be a host name or an IP address, '
                             f'not {host!r}.')
    if not 1 <= port <= 65535:
        raise InvalidRequest(f'Argument "port" must be between 1 and 65535, not {port}.')
    return {"ae_title": ae, "host": host.strip(), "port": port,
            "description": description.strip()[:256]}


def _taken(settings: Settings, ae_title: str) -> None:
    if any(n.ae_title == ae_title for n in _from_settings(settings)):
        raise Conflict(f"AE title {ae_title!r} is a node of the dicom.remote_nodes setting.")


def create_node(db: Database, settings: Settings, *, ae_title: str, host: str, port: int,
                tls: bool = False, description: str = "") -> RemoteNode:
    values = _checked(ae_title, host, port, description)
    _taken(settings, values["ae_title"])
    now = dt.datetime.now(dt.timezone.utc)
    try:
        with db.write() as conn:
            node_id = conn.execute(insert(remote_nodes).values(
                **values, tls=tls, created_at=now, updated_at=now)
            ).inserted_primary_key[0]  # type: ignore[index]
    except IntegrityError:
        raise Conflict(f"A node with AE title {values['ae_title']!r} exists.") from None
    return get_node(db, int(node_id))


def update_node(db: Database, settings: Settings, node_id: int,
                changes: dict[str, Any]) -> RemoteNode:
    """Change some of ae_title, host, port, tls, description."""
    node = get_node(db, node_id)
    merged = {**node.to_json(), **{k: v for k, v in changes.items() if v is not None}}
    values = _checked(merged["ae_title"], merged["host"], int(merged["port"]),
                      merged["description"])
    if values["ae_title"] != node.ae_title:
        _taken(settings, values["ae_title"])
    try:
        with db.write() as conn:
            conn.execute(update(remote_nodes).where(remote_nodes.c.id == node_id).values(
                **values, tls=bool(merged["tls"]),
                updated_at=dt.datetime.now(dt.timezone.utc)))
    except IntegrityError:
        raise Conflict(f"A node with AE title {values['ae_title']!r} exists.") from None
    return get_node(db, node_id)


def delete_node(db: Database, node_id: int) -> None:
    with db.write() as conn:
        if not conn.execute(delete(remote_nodes).where(remote_nodes.c.id == node_id)).rowcount:
            raise NotFound(f"Remote node {node_id} does not exist")


async def echo(settings: Settings, node: RemoteNode) -> dict[str, Any]:
    """C-ECHO (PS3.7 9.1.5) from our AE title: ``{ok, elapsed_ms, message}``."""
    started = time.monotonic()
    try:
        assoc = await open_association(
            node.host, node.port, node.ae_title, settings["dicom.ae_title"],
            [verification_context()], max_pdu_length=settings["dicom.max_pdu_length"],
            timeout=settings["dicom.network_timeout"],
            ssl=client_ssl_context_from_settings(settings) if node.tls else None)
        try:
            status = await assoc.echo()
        finally:
            await assoc.release()
    except AssociationRejected as exc:
        ok, message = False, f"Association rejected: {exc}"
    except (AssociationClosed, OSError, TimeoutError) as exc:
        ok, message = False, f"Cannot reach {node.host}:{node.port}: {exc or type(exc).__name__}"
    else:
        ok = status == 0
        message = "C-ECHO succeeded" if ok else f"C-ECHO answered status 0x{status:04X}"
    return {"ok": ok, "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
            "message": message}
