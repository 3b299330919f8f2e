"""The sharing JSON API: share links (create, list, revoke; open and download without an
account), sharing studies with users and groups, and export as a zip with a DICOMDIR.

Access is decided by the middleware (``web/security.py``) from the route table; the
handlers check that the studies are visible to the caller and record every use.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Query as Param, Request
from fastapi.responses import FileResponse
from pydantic import Field
from starlette.background import BackgroundTask

from hounsfield.archive import InstanceRef
from hounsfield.archive.access import current_scope
from hounsfield.archive.query import Query, QueryLevel
from hounsfield.auth import accounts, export, shares
from hounsfield.auth.deidentify import Deidentifier
from hounsfield.errors import Forbidden, NotFound, Unauthorized
from hounsfield.web.auth_api import (
    Body, RowId, _audit, _db, _key, _principal, _run, _state,
)
from hounsfield.web import deidentified_view
from hounsfield.web.security import SHARE_HEADER

router = APIRouter()
_SHARE_PASSWORD_HEADER = "x-share-password"


# --- share links -------------------------------------------------------------------

class NewShare(Body):
    study_instance_uids: list[str] = Field(min_length=1, max_length=shares.MAX_STUDIES)
    expires_in_hours: int = Field(default=72, ge=1, le=24 * 365)
    password: str | None = Field(default=None, max_length=1024)
    deidentify: bool = False
    description: str = Field(default="", max_length=256)


async def _visible(request: Request, uids: list[str]) -> None:
    """Every study must exist and be in the caller's scope."""
    uids = list(shares.check_study_uids(uids))
    refs = await _state(request).archive.instances(uids)
    found = {r.study_instance_uid for r in refs}
    missing = [u for u in uids if u not in found]
    if missing:
        raise NotFound(f"Study {missing[0]} is not stored or not yours to share")


@router.post("/api/shares", tags=["sharing"], status_code=201)
async def create_share(body: NewShare, request: Request) -> dict[str, Any]:
    """A share link for studies the caller may see: the token is shown once."""
    principal = _principal(request)
    await _visible(request, body.study_instance_uids)
    expires = accounts.now() + dt.timedelta(hours=body.expires_in_hours)
    token, share = await _run(request, lambda: shares.create_share(
        _db(request), created_by=principal.username,
        study_instance_uids=body.study_instance_uids, expires_at=expires,
        password=body.password or None, deidentify=body.deidentify,
        description=body.description))
    await _audit(request, "share", study_instance_uid=share.study_instance_uids,
                 details={"what": "share link created", "share": share.id,
                          "deidentify": share.deidentify, "password": share.has_password,
                          "expires_at": share.expires_at.isoformat()})
    return {"token": token, "url": f"/s/{token}", "share": share.to_json()}


@router.get("/api/shares", tags=["sharing"])
async def list_shares(request: Request) -> list[dict[str, Any]]:
    """The caller's share links (all links for an administrator)."""
    principal = _principal(request)
    owner = None if "admin.users" in principal.permissions else principal.username
    return [s.to_json() for s in await _run(request, shares.list_shares, _db(request), owner)]


@router.delete("/api/shares/{share_id}", tags=["sharing"])
async def revoke_share(share_id: RowId, request: Request) -> dict[str, Any]:
    principal = _principal(request)
    owner = None if "admin.users" in principal.permissions else principal.username
    share = await _run(request, lambda: shares.revoke_share(_db(request), share_id,
                                                            created_by=owner))
    await _audit(request, "share", study_instance_uid=share.study_instance_uids,
                 details={"what": "share link revoked", "share": share_id})
    return share.to_json()  # type: ignore[no-any-return]


class ShareWithUsers(Body):
    study_instance_uids: list[str] = Field(min_length=1, max_length=shares.MAX_STUDIES)
    user: str | None = Field(default=None, max_length=64)
    group: str | None = Field(default=None, max_length=64)


@router.get("/api/shares/grants", tags=["sharing"])
async def list_study_grants(request: Request) -> list[dict[str, Any]]:
    """Studies the caller shared with users and groups (an administrator sees all)."""
    principal = _principal(request)
    found = await _run(request, accounts.list_grants, _db(request))
    return [g for g in found if g["kind"] == "study" and (
        "admin.users" in principal.permissions or g["created_by"] == principal.username)]


@router.post("/api/shares/grants", tags=["sharing"], status_code=201)
async def share_with_users(body: ShareWithUsers, request: Request) -> list[dict[str, Any]]:
    """Share studies the caller can see with a user or a group (study grants)."""
    principal = _principal(request)
    await _visible(request, body.study_instance_uids)

    def grant() -> list[int]:
        return [accounts.add_grant(_db(request), kind="study", value=uid, user=body.user,
                                   group=body.group, created_by=principal.username)
                for uid in shares.check_study_uids(body.study_instance_uids)]
    ids = await _run(request, grant)
    await _audit(request, "share", study_instance_uid=body.study_instance_uids,
                 details={"what": "shared with", "user": body.user, "group": body.group,
                          "grants": ids})
    return [{"id": i, "study_instance_uid": u, "user": body.user, "group": body.group}
            for i, u in zip(ids, body.study_instance_uids)]


@router.delete("/api/shares/grants/{grant_id}", tags=["sharing"])
async def unshare(grant_id: RowId, request: Request) -> dict[str, Any]:
    """End a study grant the caller made (an administrator may end any)."""
    principal = _principal(request)
    found = await _run(request, accounts.list_grants, _db(request))
    grant = next((g for g in found if g["id"] == grant_id and g["kind"] == "study"), None)
    if grant is None or ("admin.users" not in principal.permissions
                         and grant["created_by"] != principal.username):
        raise NotFound(f"No share {grant_id} of yours")
    await _run(request, accounts.remove_grant, _db(request), grant_id)
    await _audit(request, "share", study_instance_uid=grant["value"],
                 details={"what": "unshared", "grant": grant_id})
    return {"ok": True}


async def _zip_response(request: Request, refs: list[InstanceRef],
                        deidentifier: Deidentifier | None, name: str) -> FileResponse:
    archive = _state(request).archive
    if not refs:
        raise NotFound("None of these studies is stored or visible to you")
    settings = _state(request).settings
    tmp_root = settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=tmp_root, prefix="export-", suffix=".zip",
                                         delete=False)
    handle.close()
    out = Path(handle.name)
    try:
        count = await archive.run(export.write_export, archive.core, refs, out,
                                  deidentifier=deidentifier)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return FileResponse(out, media_type="application/zip", filename=name,
                        headers={"Cache-Control": "no-store", "X-Instance-Count": str(count)},
                        background=BackgroundTask(out.unlink, missing_ok=True))


@router.get("/api/export", tags=["sharing"])
async def export_studies(request: Request,
                         study: list[str] = Param(..., min_length=1, max_length=100),
                         deidentify: bool = False) -> FileResponse:
    """Studies as a zip with a DICOMDIR, original or de-identified (PS3.15 Annex E)."""
    principal = request.scope.get("user")
    uids = list(shares.check_study_uids(study))
    try:
        refs = await _state(request).archive.instances(uids)
        response = await _zip_response(
            request, refs, export.new_deidentifier(_state(request).settings)
            if deidentify else None, "studies.zip")
    except Exception as exc:
        await _audit(request, "export", "failure", study_instance_uid=uids,
                     details={"deidentify": deidentify, "reason": str(exc)[:500]})
        raise
    await _audit(request, "export", user=getattr(principal, "username", ""),
                 study_instance_uid=uids, details={"deidentify": deidentify,
                                                   "instances": response.headers[
                                                       "x-instance-count"]})
    return response


class ShareUnlock(Body):
    password: str | None = Field(default=None, max_length=1024)


async def _open_link(request: Request, token: str, password: str | None) -> shares.Share:
    settings = _state(request).settings
    try:
        return await _run(  # type: ignore[no-any-return]
            request, lambda: shares.open_share(
                _db(request), token, password,
                max_failures=settings["auth.login_max_failures"],
                lockout_seconds=settings["auth.lockout_seconds"]))
    except Unauthorized as exc:
        await _audit(request, "share_access", "denied", user="share",
                     details={"reason": exc.message})
        raise


async def _describe(request: Request, token: str, password: str | None) -> dict[str, Any]:
    share = await _open_link(request, token, password)
    query = Query(QueryLevel.STUDY)
    query.add("StudyInstanceUID", "\\".join(share.study_instance_uids))
    for key in ("StudyDate", "StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedInstances"):
        query.add_return(key)
    if not share.deidentify:
        for key in ("PatientName", "PatientID", "AccessionNumber"):
            query.add_return(key)
    marker = current_scope.set(share.scope)
    try:
        studies = await _state(request).archive.search(query)
    finally:
        current_scope.reset(marker)
    if share.deidentify:  # only what carries no identity: what DICOMweb shows of it
        view = await _run(request, _share_view, request, share)
        found = await _run(request, deidentified_view.deidentified_documents, view, studies)
        studies = [{k: v for k, v in s.items() if k in ("0020000D", "00080061", "00201208")}
                   for s in orjson.loads(found)]
    await _audit(request, "share_access", user=f"share:{share.id}",
                 study_instance_uid=share.study_instance_uids,
                 details={"share": share.id, "what": "opened"})
    hidden = {"created_by"} | ({"study_instance_uids"} if share.deidentify else set())
    return {"share": {k: v for k, v in share.to_json().items() if k not in hidden},
            "studies": studies, "access": shares.access_value(_key(request), share),
            "download": f"/share/{token}/download"}


@router.get("/share/{token}", tags=["sharing"])
async def open_share(token: str, request: Request) -> dict[str, Any]:
    """What a share link opens, and an ``access`` value for DICOMweb requests
    (``X-Share-Token`` header or ``?share=``). A password goes in ``X-Share-Password``."""
    return await _describe(request, token, request.headers.get(_SHARE_PASSWORD_HEADER))


@router.post("/share/{token}", tags=["sharing"])
async def unlock_share(token: str, request: Request,
                       body: ShareUnlock | None = None) -> dict[str, Any]:
    """The same as GET, with the password in the body (for a form)."""
    return await _describe(request, token, body.password if body else None)


@router.get("/share/{token}/download", tags=["sharing"])
async def download_share(token: str, request: Request,
                         access: str | None = Param(None, max_length=500)) -> FileResponse:
    """The shared studies as a zip with a DICOMDIR (de-identified when the link says so).
    Needs the password (``X-Share-Password``) or an ``access`` value when the link has
    a password."""
    value = access or request.headers.get(SHARE_HEADER)
    if value:
        try:
            share = await _run(request, shares.share_from_access, _db(request), _key(request),
                               value)
        except Unauthorized as exc:
            await _audit(request, "share_access", "denied", user="share",
                         details={"reason": exc.message})
            raise
        if share.id != (await _run(request, _share_id_of_token, _db(request), token)):
            raise Forbidden("This access value belongs to another share link.")
    else:
        share = await _open_link(request, token, request.headers.get(_SHARE_PASSWORD_HEADER))
    marker = current_scope.set(share.scope)
    try:
        if share.deidentify:  # what the link shows: its pseudonyms, burned-in images left out
            view = await _run(request, _share_view, request, share)
            refs, deidentifier = list(view.refs), view.deidentifier
        else:
            refs, deidentifier = await _state(request).archive.instances(
                list(share.study_instance_uids)), None
        response = await _zip_response(request, refs, deidentifier, "shared-studies.zip")
    finally:
        current_scope.reset(marker)
    await _audit(request, "share_access", user=f"share:{share.id}",
                 study_instance_uid=share.study_instance_uids,
                 details={"share": share.id, "what": "download",
                          "deidentify": share.deidentify})
    return response


def _share_view(request: Request, share: shares.Share) -> deidentified_view.ShareView:
    """The de-identified share's view, shared with the DICOMweb answers (blocking)."""
    state = _state(request)
    return state.share_views.get(  # type: ignore[no-any-return]
        state.archive.core, state.settings, _key(request), share)


def _share_id_of_token(db: Any, token: str) -> int:
    from sqlalchemy import select

    from hounsfield.auth.schema import shares as table
    from hounsfield.auth.tokens import hash_token

    share_id = None
    if token.startswith("hf_") and len(token) <= 100:
        with db.read() as conn:
            share_id = conn.execute(select(table.c.id).where(
                table.c.token_hash == hash_token(token))).scalar()
    if share_id is None:
        raise Unauthorized("Unknown share link.")
    return int(share_id)


__all__ = ["router"]
