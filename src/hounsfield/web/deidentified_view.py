"""DICOMweb through a de-identified share link: the shared studies as the link's
de-identified download shows them, browsable with any DICOMweb client.

The security middleware hands every DICOMweb request of such a link here. The request's
pseudonymous UIDs (path and matching keys) are mapped back to the stored ones (only UIDs
of the shared studies map; anything else is 404), the DICOMweb handlers answer as usual,
and the answer is de-identified on its way out: every DICOM JSON document goes through
the PS3.15 Annex E profile (``auth/deidentify.py``, the export's options), and every
stored UID in the body (Retrieve URLs, BulkDataURIs, error messages) is replaced by its
pseudonym. The pseudonyms come from the share's own salt (``shares.deidentifier``), so
the link always shows the same UIDs, the same ones its download holds.

Instances whose pixels may carry burned-in text (the export's rule,
``Deidentifier.check_burned_in``) are left out: not mapped, not listed, not counted, not
rendered. Original objects are sent as de-identified Part 10 files; XML answers and
WADO-URI are refused (they would bypass the JSON rewriting).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from pydicom.dataset import Dataset
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from hounsfield.archive import ArchiveCore, InstanceRef
from hounsfield.archive.query import resolve_tag
from hounsfield.auth import shares
from hounsfield.auth.confidentiality_profile import row_for_tag
from hounsfield.auth.deidentify import BurnedInAnnotation, Deidentifier, deidentify_file
from hounsfield.config import Settings
from hounsfield.dicomweb import multipart
from hounsfield.dicomweb.accept import requested_ranges
from hounsfield.dicomweb.negotiation import choose_dicom
from hounsfield.dicomweb.qido import CONTROL_PARAMETERS
from hounsfield.dicomweb.service import service
from hounsfield.dicomweb.wado import DEFAULT_DICOM_ACCEPT, instance_bytes
from hounsfield.errors import Forbidden, InvalidRequest, NotAcceptable, NotFound

__all__ = ["ShareView", "ViewCache", "build_view", "deidentified_documents", "serve",
           "translate"]

log = logging.getLogger(__name__)

_UID_KEYS = {"0020000D": 0, "0020000E": 1, "00080018": 2}  # study, series, instance
_PATH_WORDS = ("studies", "series", "instances")
_UID_TEXT = re.compile(rb"[0-9]+(?:\.[0-9]+)+")
_JSON_TYPES = ("application/dicom+json", "application/json")
_VIEW_CACHE_SIZE = 64
# De-identified documents kept per share: reopening a study does not run the profile again.
_DOCUMENT_CACHE_SIZE = 20000


def _first(doc: Mapping[str, Any], tag: str) -> Any:
    value = doc.get(tag, {}).get("Value")
    return value[0] if value else None


@dataclass(frozen=True)
class ShareView:
    """What one de-identified share shows: the instances (burned-in ones left out) and
    the pseudonym of every stored UID of its studies."""

    share: shares.Share
    fingerprint: str
    deidentifier: Deidentifier
    refs: tuple[InstanceRef, ...]  # shown, in the archive's order
    left_out: tuple[InstanceRef, ...]
    to_pseudo: Mapping[str, str]  # every study, series and instance UID of the studies
    to_real: Mapping[str, str]  # pseudonyms of what is shown only
    modalities: Mapping[str, str]  # series UID -> Modality
    # digest of a stored document (as the handler answered it) -> its de-identified form
    documents: dict[bytes, dict[str, Any]] = field(default_factory=dict, compare=False)

    @property
    def shown_uids(self) -> frozenset[str]:
        return frozenset(self.to_real.values())

    def real(self, pseudonym: str) -> str:
        uid = self.to_real.get(pseudonym)
        if uid is None:
            # Not echoed: a stored UID tried here must not show up in the answer either.
            raise NotFound("No such study, series or instance in this share")
        return uid

    def shown(self, *uids: str) -> list[InstanceRef]:
        """The shown instances under (study, series, instance) UIDs, as many as given."""
        return _under(self.refs, uids)

    def pseudonymize(self, body: bytes) -> bytes:
        """Every stored UID of the share in ``body`` replaced by its pseudonym."""
        table = self.to_pseudo

        def swap(match: re.Match[bytes]) -> bytes:
            text = match.group(0).decode("ascii")
            return table.get(text, text).encode("ascii")
        return _UID_TEXT.sub(swap, body)


def _under(refs: tuple[InstanceRef, ...], uids: tuple[str, ...]) -> list[InstanceRef]:
    return [r for r in refs if (r.study_instance_uid, r.series_instance_uid,
                                r.sop_instance_uid)[:len(uids)] == uids]


def _fingerprint(refs: list[InstanceRef]) -> str:
    digest = hashlib.sha256()
    for ref in refs:
        digest.update(f"{ref.id}:{ref.sha256}\n".encode("ascii", "replace"))
    return digest.hexdigest()


def _burned_in(deidentifier: Deidentifier, ref: InstanceRef, meta: Mapping[str, Any]) -> bool:
    """The export's rule, applied to the attributes it reads."""
    ds = Dataset()
    ds.SOPInstanceUID = ref.sop_instance_uid
    ds.SOPClassUID = ref.sop_class_uid
    for keyword, tag in (("Modality", "00080060"), ("BurnedInAnnotation", "00280301")):
        if (value := _first(meta, tag)) is not None:
            setattr(ds, keyword, value)
    if ref.pixel_data_offset >= 0 or "7FE00010" in meta:
        ds.PixelData = b""
    try:
        deidentifier.check_burned_in(ds)
    except BurnedInAnnotation:
        return True
    return False


def build_view(core: ArchiveCore, settings: Settings, key: bytes, share: shares.Share,
               refs: list[InstanceRef] | None = None) -> ShareView:
    """The view of a de-identified share (blocking)."""
    if refs is None:
        refs = core.instances(share.study_instance_uids)
    deidentifier = shares.deidentifier(settings, key, share)
    metas: dict[str, dict[str, Any]] = {}
    for doc in core.metadata_documents([r.id for r in refs]):
        meta = orjson.loads(doc)
        metas[str(_first(meta, "00080018"))] = meta
    hidden = {r.id for r in refs
              if _burned_in(deidentifier, r, metas.get(r.sop_instance_uid, {}))}
    shown = tuple(r for r in refs if r.id not in hidden)
    keep = deidentifier.options.retain_uids

    def pseudonym(uid: str) -> str:
        return uid if keep else deidentifier.pseudonymous_uid(uid)
    to_pseudo = {uid: pseudonym(uid) for r in refs for uid in (
        r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid)}
    to_real = {to_pseudo[uid]: uid for r in shown for uid in (
        r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid)}
    modalities = {r.series_instance_uid: str(_first(metas.get(r.sop_instance_uid, {}),
                                                    "00080060") or "") for r in shown}
    return ShareView(share, _fingerprint(refs), deidentifier, shown,
                     tuple(r for r in refs if r.id in hidden), to_pseudo, to_real, modalities)


class ViewCache:
    """The views of the shares used lately, rebuilt when a shared study changes (a frame
    request should not read every instance's metadata again)."""

    def __init__(self) -> None:
        self._views: OrderedDict[int, ShareView] = OrderedDict()
        self._lock = threading.Lock()  # called from the archive's worker threads

    def get(self, core: ArchiveCore, settings: Settings, key: bytes,
            share: shares.Share) -> ShareView:
        """The share's view (blocking: run it in the archive's threads)."""
        refs = core.instances(share.study_instance_uids)
        with self._lock:
            cached = self._views.get(share.id)
            if cached is not None and cached.fingerprint == _fingerprint(refs) \
                    and cached.share == share:
                self._views.move_to_end(share.id)
                return cached
        view = build_view(core, settings, key, share, refs)
        with self._lock:
            self._views[share.id] = view
            self._views.move_to_end(share.id)
            while len(self._views) > _VIEW_CACHE_SIZE:
                self._views.popitem(last=False)
        return view


# --- requests -------------------------------------------------------------------------

def _path_uids(path: str, base_path: str) -> tuple[list[str], list[int]]:
    """The segments of a DICOMweb path and the positions of its study/series/instance
    UIDs, in that order."""
    segments = path[len(base_path):].split("/")
    positions: list[int] = []
    for number, word in enumerate(_PATH_WORDS):
        at = 2 * number + 1
        if len(segments) > at + 1 and segments[at] == word and len(positions) == number:
            positions.append(at + 1)
    return segments, positions


def _check_key(name: str) -> bool:
    """Whether a matching key is a UID key (mapped); InvalidRequest for a key that would
    match on what identifies someone."""
    tags = [resolve_tag(part) for part in name.split(".")]
    if len(tags) == 1 and tags[0] in _UID_KEYS:
        return True
    for tag in tags:
        if int(tag[:4], 16) & 1 or row_for_tag(int(tag, 16)) is not None:
            raise InvalidRequest(
                f'Parameter "{name[:64]}": a de-identified share is searched by UIDs and '
                "by attributes that identify no one")
    return False


def translate(view: ShareView, scope: AsgiScope, base_path: str) -> AsgiScope:
    """The request with the stored UIDs in place of the pseudonyms (a new ASGI scope)."""
    path: str = scope["path"]
    if not path.startswith(base_path + "/"):
        raise Forbidden("A de-identified share is browsed through WADO-RS and QIDO-RS only.")
    segments, positions = _path_uids(path, base_path)
    for at in positions:
        segments[at] = view.real(segments[at])
    uids = tuple(segments[at] for at in positions)
    if segments[-1] == "rendered" and len(uids) < 3 and _under(view.left_out, uids):
        raise Forbidden("Images are left out of this de-identified share (they may show "
                        "burned-in text): render the others one by one.")
    if segments[-1] == "thumbnail" and len(uids) < 3:
        # The middle image of the first series, among the images the share shows.
        images = [r for r in view.shown(*uids) if r.pixel_data_offset >= 0]
        if not images:
            raise NotFound("Nothing here has pixel data for a thumbnail")
        first = [r for r in images if r.series_instance_uid == images[0].series_instance_uid]
        ref = first[len(first) // 2]
        segments = ["", "studies", ref.study_instance_uid, "series", ref.series_instance_uid,
                    "instances", ref.sop_instance_uid, "thumbnail"]
    searching = segments[-1] in _PATH_WORDS  # QIDO-RS: the parameters are matching keys
    query = []
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                                 keep_blank_values=True):
        if searching and name not in CONTROL_PARAMETERS and _check_key(name):
            value = ",".join(view.real(v) for v in re.split(r"[,\\]", value) if v)
        query.append((name, value))
    new_path = base_path + "/".join(segments)
    return {**scope, "path": new_path, "raw_path": quote(new_path).encode("ascii"),
            "query_string": urlencode(query).encode("latin-1")}


# --- answers --------------------------------------------------------------------------

async def serve(view: ShareView, app: ASGIApp, scope: AsgiScope, receive: Receive,
                send: Send, base_path: str) -> None:
    """Answer one request that ``translate`` turned to the stored UIDs."""
    segments, positions = _path_uids(scope["path"], base_path)
    uids = tuple(segments[p] for p in positions)
    if positions and positions[-1] == len(segments) - 1:  # a study, series, instance
        response = await _retrieve(view, Request(scope), uids)
        await response(scope, receive, send)
        return
    if len(uids) == 3 and segments[-2] == "bulkdata":
        archive = scope["app"].state.archive
        await archive.run(_check_bulkdata, view, archive.core, uids, segments[-1])
    await app(scope, receive, _Rewriter(view, scope["app"].state.archive.run, send))


def _check_bulkdata(view: ShareView, core: ArchiveCore, uids: tuple[str, ...],
                    tag: str) -> None:
    """Only bulk data that the de-identified metadata refers to: a binary element at the
    top level of the instance that the profile keeps as it is (neither listed in Table
    E.1-1 nor private). The handler would also find elements nested in sequences that the
    profile removes."""
    try:
        number = int(tag, 16)
    except ValueError:
        return  # the handler explains what a tag looks like
    refs = view.shown(*uids)
    meta = core.instance_metadata(refs[0]) if refs else {}
    element = meta.get(tag.upper(), {})
    if not ("BulkDataURI" in element or "InlineBinary" in element) or number >> 16 & 1 \
            or row_for_tag(number) is not None:
        raise NotFound(f"No bulk data {tag.upper()[:8]} in this instance of the share")


class _Rewriter:
    """The send side of a request: JSON answers de-identified, images passed through,
    anything else (XML, DICOM) refused."""

    def __init__(self, view: ShareView, run: Any, send: Send) -> None:
        self.view, self.run, self.send = view, run, send
        self.start: Message | None = None
        self.mode = "pass"
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = {k.lower(): v for k, v in message.get("headers", [])}
            ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
            status = message["status"]
            if status == 304 or (status < 400 and "application/dicom" not in ctype
                                 and ctype.startswith(("image/", "video/", "multipart/",
                                                       "application/octet-stream"))):
                self.mode = "pass"
                await self.send(message)
                return
            self.mode = "json" if status >= 400 or ctype.startswith(_JSON_TYPES) else "refuse"
            self.start = message
            return
        if message["type"] != "http.response.body" or self.mode == "pass":
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            await self._finish()

    async def _finish(self) -> None:
        assert self.start is not None
        status = self.start["status"]
        headers = dict(self.start.get("headers", []))
        body = b"".join(self.chunks)
        if self.mode == "refuse":
            error = NotAcceptable("A de-identified share answers DICOM JSON and images only.")
            status, body = error.http_status, orjson.dumps(error.to_json())
            headers = {b"content-type": b"application/json"}
        else:
            if headers.get(b"content-encoding", b"").lower() == b"gzip":
                body = gzip.decompress(body)
            if status < 400 and body:
                body = await self.run(deidentified_documents, self.view, orjson.loads(body))
            else:
                body = self.view.pseudonymize(body)
        out = [(k, v) for k, v in headers.items() if k.lower() not in (
            b"content-length", b"content-encoding", b"etag", b"cache-control")]
        out += [(b"content-length", str(len(body)).encode()),
                (b"cache-control", b"private, no-store")]
        await self.send({"type": "http.response.start", "status": status, "headers": out})
        await self.send({"type": "http.response.body", "body": body})


def deidentified_documents(view: ShareView, docs: list[dict[str, Any]]) -> bytes:
    """A DICOM JSON answer (search results or metadata) as the share shows it (blocking):
    the instances left out dropped, counts that included them made again, every document
    de-identified, and every stored UID replaced by its pseudonym."""
    shown = view.shown_uids
    out = []
    for doc in docs:
        uids = [_first(doc, tag) for tag in ("0020000D", "0020000E", "00080018")]
        if any(uid is not None and uid not in shown for uid in uids):
            continue
        if view.left_out:
            _recount(view, doc, tuple(u for u in uids[:2] if u is not None))
        digest = hashlib.sha256(orjson.dumps(doc)).digest()
        found = view.documents.get(digest)
        if found is None:
            try:
                found = _deidentify(view.deidentifier, doc)
            except Exception:
                # Values that pydicom cannot read are kept in the archive as they came
                # (DESIGN rule 8); an entity they stop from being de-identified is not
                # shown.
                log.warning("Left %s out of share %d: it could not be de-identified",
                            "/".join(u for u in uids if u), view.share.id, exc_info=True)
                continue
            if len(view.documents) >= _DOCUMENT_CACHE_SIZE:
                view.documents.clear()
            view.documents[digest] = found
        out.append(found)
    return view.pseudonymize(orjson.dumps(out))


def _recount(view: ShareView, doc: dict[str, Any], uids: tuple[str, ...]) -> None:
    refs = view.shown(*uids)
    counts = {"00201206": len({r.series_instance_uid for r in refs}),
              "00201208": len(refs), "00201209": len(refs)}
    for tag, count in counts.items():
        if tag in doc:
            doc[tag] = {"vr": "IS", "Value": [count]}
    if "00080061" in doc:
        found = sorted({view.modalities[r.series_instance_uid] for r in refs} - {""})
        doc["00080061"] = {"vr": "CS", "Value": found} if found else {"vr": "CS"}


def _deidentify(deidentifier: Deidentifier, doc: dict[str, Any]) -> dict[str, Any]:
    """One DICOM JSON document through the profile. BulkDataURIs stand in as short
    markers meanwhile, so the profile keeps, replaces or removes their elements."""
    markers: dict[str, str] = {}
    ds = Dataset.from_json(_swap_bulk(doc, markers))
    out = deidentifier.deidentify(ds, in_place=True).to_json_dict()
    return dict(sorted(_restore_bulk(out, markers).items()))


def _swap_bulk(value: Any, markers: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if "BulkDataURI" in value:
            marker = base64.b64encode(f"\x00HFBULK{len(markers):05d}".encode()).decode()
            markers[marker] = value["BulkDataURI"]
            return {"vr": value.get("vr", "UN"), "InlineBinary": marker}
        return {k: _swap_bulk(v, markers) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap_bulk(v, markers) for v in value]
    return value


def _restore_bulk(value: Any, markers: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if value.get("InlineBinary") in markers:
            return {"vr": value["vr"], "BulkDataURI": markers[value["InlineBinary"]]}
        return {k: _restore_bulk(v, markers) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_bulk(v, markers) for v in value]
    return value


async def _retrieve(view: ShareView, request: Request, uids: tuple[str, ...]) -> Response:
    """Original objects as de-identified Part 10 files (the share's download, one by one)."""
    web = service(request)
    choice = choose_dicom(requested_ranges(request.headers,
                                           request.query_params.getlist("accept"),
                                           DEFAULT_DICOM_ACCEPT),
                          single_instance=len(uids) == 3)
    refs = view.shown(*uids)
    if not refs:
        raise NotFound("Nothing of this share is stored here")
    targets = []
    for ref in refs:
        target = choice.target_for(ref.transfer_syntax_uid)
        if target is None:
            raise NotAcceptable("An instance of this share cannot be sent in any accepted "
                                "transfer syntax (" + ", ".join(choice.syntaxes) + ")")
        targets.append(target)
    headers = {"Cache-Control": "private, no-store"}

    async def part10(ref: InstanceRef, target: str) -> bytes:
        data = await instance_bytes(web, ref, target)
        return await web.archive.run(deidentify_file, data, view.deidentifier)  # type: ignore[no-any-return]

    if not choice.multipart:
        return Response(await part10(refs[0], targets[0]), headers=headers,
                        media_type=f"application/dicom; transfer-syntax={targets[0]}")
    boundary = multipart.new_boundary()

    async def parts() -> AsyncIterator[bytes]:
        for index, (ref, target) in enumerate(zip(refs, targets)):
            data = await part10(ref, target)
            yield multipart.part_head(boundary, f"application/dicom; transfer-syntax={target}",
                                      length=len(data), first=index == 0)
            yield data
        yield multipart.closing(boundary)
    return StreamingResponse(parts(), headers=headers,
                             media_type=multipart.content_type("application/dicom", boundary))
