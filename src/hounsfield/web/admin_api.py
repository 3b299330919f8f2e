"""Administration API of the web application: remote DICOM nodes (with C-ECHO) and the
storage statistics page."""

from __future__ import annotations

import datetime as dt
import shutil
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field
from sqlalchemy import distinct, func, select

from hounsfield import __version__, nodes
from hounsfield.index.schema import instances, series
from hounsfield.storage.filesystem import FilesystemStore
from hounsfield.storage.memory import MemoryStore
from hounsfield.web.auth_api import Body, RowId, _db, _run, _state

router = APIRouter()
STATS_DAYS = 30


# --- remote nodes -------------------------------------------------------------------------

class NewNode(Body):
    ae_title: str = Field(min_length=1, max_length=16)
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(ge=1, le=65535)
    tls: bool = False
    description: str = Field(default="", max_length=256)


class NodeChange(Body):
    ae_title: str | None = Field(default=None, min_length=1, max_length=16)
    host: str | None = Field(default=None, min_length=1, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: bool | None = None
    description: str | None = Field(default=None, max_length=256)


@router.get("/api/admin/nodes", tags=["admin"])
async def list_nodes(request: Request) -> list[dict[str, Any]]:
    """Nodes of the ``dicom.remote_nodes`` setting (read-only, id null) and of the
    database."""
    found = await _run(request, nodes.list_nodes, _db(request), _state(request).settings)
    return [n.to_json() for n in found]


@router.post("/api/admin/nodes", tags=["admin"], status_code=201)
async def add_node(body: NewNode, request: Request) -> dict[str, Any]:
    node = await _run(request, lambda: nodes.create_node(
        _db(request), _state(request).settings, **body.model_dump()))
    return node.to_json()  # type: ignore[no-any-return]


@router.patch("/api/admin/nodes/{node_id}", tags=["admin"])
async def change_node(node_id: RowId, body: NodeChange, request: Request) -> dict[str, Any]:
    node = await _run(request, nodes.update_node, _db(request), _state(request).settings,
                      node_id, body.model_dump(exclude_unset=True))
    return node.to_json()  # type: ignore[no-any-return]


@router.delete("/api/admin/nodes/{node_id}", tags=["admin"])
async def remove_node(node_id: RowId, request: Request) -> dict[str, Any]:
    await _run(request, nodes.delete_node, _db(request), node_id)
    return {"deleted": node_id}


@router.post("/api/admin/nodes/{node_id}/echo", tags=["admin"])
async def echo_node(node_id: RowId, request: Request) -> dict[str, Any]:
    """C-ECHO the node from our AE title."""
    node = await _run(request, nodes.get_node, _db(request), node_id)
    return await nodes.echo(_state(request).settings, node)


# --- statistics ---------------------------------------------------------------------------

def storage_stats(core: Any) -> dict[str, Any]:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=STATS_DAYS)
    received = instances.c.received_at
    # Days in UTC whatever the database session's time zone.
    day = func.date(func.timezone("UTC", received) if core.db.dialect == "postgresql"
                    else received)
    totals = core.stats()
    totals["bytes"] = totals.pop("size_bytes")
    with core.db.read() as conn:
        by_modality = [
            {"modality": modality, "studies": int(n_studies), "instances": int(n_instances),
             "bytes": int(n_bytes)}
            for modality, n_studies, n_instances, n_bytes in conn.execute(
                select(series.c.modality, func.count(distinct(series.c.study_pk)),
                       func.coalesce(func.sum(series.c.num_instances), 0),
                       func.coalesce(func.sum(series.c.size_bytes), 0))
                .group_by(series.c.modality).order_by(series.c.modality))]
        per_day = [
            {"date": str(date), "studies": int(n_studies), "instances": int(n_instances)}
            for date, n_studies, n_instances in conn.execute(
                select(day, func.count(distinct(series.c.study_pk)), func.count())
                .select_from(instances.join(series, series.c.id == instances.c.series_pk))
                .where(instances.c.received_at >= since).group_by(day).order_by(day))]
    store = core.store
    if isinstance(store, FilesystemStore):
        usage = shutil.disk_usage(store.root)
        storage, disk = "filesystem", {"total": usage.total, "free": usage.free}
    else:
        storage, disk = ("memory" if isinstance(store, MemoryStore) else "s3"), None
    return {**totals, "by_modality": by_modality, "studies_per_day": per_day,
            "index": core.db.dialect, "storage": storage, "disk": disk,
            "version": __version__}


@router.get("/api/admin/stats", tags=["admin"])
async def stats(request: Request) -> dict[str, Any]:
    """Counts and sizes of what is stored, by modality and by day received."""
    return await _run(request, storage_stats, _state(request).archive.core)  # type: ignore[no-any-return]


__all__ = ["router", "storage_stats"]
