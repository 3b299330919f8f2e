"""The SCU side: open an association and run C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET.

    async with Association.connect("pacs.example", 104, "PACS", "HOUNSFIELD",
                                   [verification_context()]) as assoc:
        status = await assoc.echo()
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl as ssl_module
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite

from hounsfield import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

from . import dimse as D
from . import pdu as P
from .association import AcceptedContext, Association, Message, Operation
from .datasets import DataSetSink, RefusingSink, decode_dataset, encode_dataset
from .dul import AssociationClosed, UpperLayer
from .sop_classes import MODELS, QUERY_TRANSFER_SYNTAXES, VERIFICATION
from .storage_scu import Part10Source, StoreResult, store_part10

log = logging.getLogger("hounsfield.dicom.client")

ContextSpec = P.PresentationContextRQ | tuple[str, Sequence[str]]
StoreHandler = Callable[[Association, Message], Awaitable[DataSetSink]]


class AssociationRejected(ConnectionError):
    """The peer answered A-ASSOCIATE-RJ (PS3.8 9.3.4)."""

    def __init__(self, rj: P.AAssociateRJ) -> None:
        super().__init__(f"Association rejected (result {rj.result}, source {rj.source}, "
                         f"reason {rj.reason})")
        self.result, self.source, self.reason = rj.result, rj.source, rj.reason


class DIMSEFailure(Exception):
    """A failure status in a response to one of our requests."""

    def __init__(self, operation: str, status: int, comment: str | None) -> None:
        text = f"{operation} failed with status 0x{status:04X}"
        super().__init__(f"{text}: {comment}" if comment else text)
        self.status = status
        self.comment = comment


@dataclass
class RetrieveResult:
    """The final C-MOVE/C-GET response (PS3.4 C.4.2.1.5)."""

    status: int
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_sop_instance_uids: list[str] = field(default_factory=list)
    error_comment: str | None = None


def verification_context() -> tuple[str, Sequence[str]]:
    return VERIFICATION, QUERY_TRANSFER_SYNTAXES


def query_contexts(model: str = "study", *services: str) -> list[tuple[str, Sequence[str]]]:
    """Contexts for the Q/R services of ``model`` ('study' or 'patient')."""
    return [(MODELS[model][s], QUERY_TRANSFER_SYNTAXES) for s in services or ("find", "move",
                                                                              "get")]


def role_selection(sop_class_uid: str, scu: bool = False, scp: bool = True) -> P.RoleSelection:
    """We propose to be SCP of a storage class: needed to receive C-GET sub-operations."""
    return P.RoleSelection(sop_class_uid, scu, scp)


class _StoreReceiver:
    """Serves C-STORE sub-operations of a C-GET on our association (PS3.4 C.4.3.2)."""

    def __init__(self, on_store: StoreHandler | None) -> None:
        self.on_store = on_store

    async def open_store(self, assoc: Association, message: Message) -> DataSetSink:
        if self.on_store is None:
            return RefusingSink(D.REFUSED_OUT_OF_RESOURCES, "Not accepting C-STORE here")
        return await self.on_store(assoc, message)

    async def handle(self, assoc: Association, message: Message, operation: Operation) -> None:
        await assoc.send_response(message.command, message.context, D.SOP_CLASS_NOT_SUPPORTED)


class ClientAssociation(Association):
    """An association we requested."""

    def __init__(self, *, ae_title: str, max_pdu_length: int, timeout: float | None,
                 on_store: StoreHandler | None) -> None:
        super().__init__(requestor=True, ae_title=ae_title, max_pdu_length=max_pdu_length,
                         handler=_StoreReceiver(on_store))
        self.timeout = timeout
        self.run: Any = None  # runner of conversions (RenderPool.run), None: a thread
        self._confirm: asyncio.Future[P.AAssociateAC | P.AAssociateRJ] = \
            asyncio.get_running_loop().create_future()
        self._reader: asyncio.Task[None] | None = None
        self.accepted_ac: P.AAssociateAC | None = None

    async def on_associate_confirm(self, pdu: P.AAssociateAC | P.AAssociateRJ) -> None:
        if not self._confirm.done():
            self._confirm.set_result(pdu)

    async def _run(self) -> None:
        assert self.dul is not None
        try:
            await self.dul.run()
        finally:
            await self.cleanup()
            if not self._confirm.done():
                self._confirm.set_exception(AssociationClosed(
                    f"Connection closed during negotiation: {self.close_reason}"))

    # --- operations ---------------------------------------------------------------------
    def _context(self, abstract_syntax: str, what: str) -> AcceptedContext:
        ctx = self.find_context(abstract_syntax)
        if ctx is None:
            raise ValueError(f"{self.peer_ae_title} accepted no presentation context for "
                             f"{what} ({abstract_syntax})")
        return ctx

    async def _request(self, ctx: AcceptedContext, command: D.Command,
                       data_set: bytes | None = None
                       ) -> tuple[int, asyncio.Queue[Message | None]]:
        message_id = self.next_message_id()
        command.message_id = message_id
        queue = self.expect_responses(message_id)
        await self.send(ctx, command, data_set)
        return message_id, queue

    async def echo(self) -> int:
        """C-ECHO (PS3.7 9.1.5); returns the status."""
        ctx = self._context(VERIFICATION, "Verification")
        message_id, queue = await self._request(ctx, D.Command(
            D.C_ECHO_RQ, affected_sop_class_uid=VERIFICATION))
        try:
            response = await self.next_response(queue, self.timeout)
        finally:
            self.forget_responses(message_id)
        return response.command.status if response.command.status is not None else -1

    async def store(self, source: Part10Source | str | os.PathLike[str] | bytes | Dataset, *,
                    move_originator: tuple[str, int] | None = None) -> StoreResult:
        """C-STORE one object (a file, Part 10 bytes, a Dataset or an archive source)."""
        if isinstance(source, Dataset):
            buffer = BytesIO()
            dcmwrite(buffer, source, enforce_file_format=True)
            source = Part10Source.from_bytes(buffer.getvalue(), "dataset")
        elif isinstance(source, (bytes, bytearray)):
            source = Part10Source.from_bytes(bytes(source))
        elif not isinstance(source, Part10Source):
            source = Part10Source.from_path(source)
        return await store_part10(self, source, timeout=self.timeout,
                                  move_originator=move_originator, run=self.run)

    async def find(self, identifier: Dataset, *, model: str = "study"
                   ) -> AsyncIterator[Dataset]:
        """C-FIND: yields each matching identifier. Stopping early sends C-CANCEL; wrap the
        loop in ``contextlib.aclosing`` to have that happen before the next statement."""
        ctx = self._context(MODELS[model]["find"], f"{model} root C-FIND")
        message_id, queue = await self._request(
            ctx, D.Command(D.C_FIND_RQ, affected_sop_class_uid=ctx.abstract_syntax,
                           priority=D.PRIORITY_MEDIUM),
            encode_dataset(identifier, ctx.transfer_syntax))
        finished = False
        try:
            while True:
                response = await self.next_response(queue, self.timeout)
                status = response.command.status or 0
                category = D.status_category(status)
                if category == "pending":
                    if response.data_set is not None:
                        yield decode_dataset(response.data_set, ctx.transfer_syntax)
                    continue
                finished = True
                if category == "failure":
                    raise DIMSEFailure("C-FIND", status, response.command.error_comment)
                return
        finally:
            if not finished and self.is_established:
                try:
                    await self._cancel(ctx, message_id, queue)
                except (AssociationClosed, ConnectionError, TimeoutError):
                    pass  # the association ended meanwhile: nothing left to cancel
            self.forget_responses(message_id)

    async def _cancel(self, ctx: AcceptedContext, message_id: int,
                      queue: asyncio.Queue[Message | None]) -> None:
        """C-CANCEL, then read responses up to the final one (PS3.7 9.3.2.3)."""
        await self.send(ctx, D.Command(D.C_CANCEL_RQ, message_id_being_responded_to=message_id))
        while True:
            response = await self.next_response(queue, self.timeout)
            if D.status_category(response.command.status or 0) != "pending":
                return

    async def _retrieve(self, operation: str, ctx: AcceptedContext, command: D.Command,
                        identifier: Dataset,
                        on_pending: Callable[[RetrieveResult], Any] | None,
                        cancel: asyncio.Event | None) -> RetrieveResult:
        message_id, queue = await self._request(
            ctx, command, encode_dataset(identifier, ctx.transfer_syntax))
        cancelled = False
        try:
            while True:
                if cancel is not None and cancel.is_set() and not cancelled:
                    cancelled = True
                    await self.send(ctx, D.Command(D.C_CANCEL_RQ,
                                                   message_id_being_responded_to=message_id))
                response = await self.next_response(queue, None)
                rsp = response.command
                result = RetrieveResult(rsp.status if rsp.status is not None else -1,
                                        rsp.number_of_completed_suboperations or 0,
                                        rsp.number_of_failed_suboperations or 0,
                                        rsp.number_of_warning_suboperations or 0,
                                        error_comment=rsp.error_comment)
                if D.status_category(result.status) == "pending":
                    if on_pending is not None:
                        on_pending(result)
                    continue
                if response.data_set:
                    ds = decode_dataset(response.data_set, ctx.transfer_syntax)
                    value = ds.get("FailedSOPInstanceUIDList", [])
                    result.failed_sop_instance_uids = [value] if isinstance(value, str) \
                        else list(value)
                return result
        finally:
            self.forget_responses(message_id)

    async def move(self, identifier: Dataset, destination: str, *, model: str = "study",
                   on_pending: Callable[[RetrieveResult], Any] | None = None,
                   cancel: asyncio.Event | None = None) -> RetrieveResult:
        """C-MOVE to the AE ``destination`` (PS3.4 C.4.2)."""
        ctx = self._context(MODELS[model]["move"], f"{model} root C-MOVE")
        command = D.Command(D.C_MOVE_RQ, affected_sop_class_uid=ctx.abstract_syntax,
                            priority=D.PRIORITY_MEDIUM, move_destination=destination)
        return await self._retrieve("C-MOVE", ctx, command, identifier, on_pending, cancel)

    async def get(self, identifier: Dataset, *, model: str = "study",
                  on_pending: Callable[[RetrieveResult], Any] | None = None,
                  cancel: asyncio.Event | None = None) -> RetrieveResult:
        """C-GET (PS3.4 C.4.3); the instances arrive as C-STORE on this association and go
        to the ``on_store`` handler given to :func:`connect`."""
        ctx = self._context(MODELS[model]["get"], f"{model} root C-GET")
        command = D.Command(D.C_GET_RQ, affected_sop_class_uid=ctx.abstract_syntax,
                            priority=D.PRIORITY_MEDIUM)
        return await self._retrieve("C-GET", ctx, command, identifier, on_pending, cancel)

    async def release(self) -> None:
        """A-RELEASE (PS3.8 7.2); aborts if the peer does not answer in time."""
        if self.dul is not None and self.dul.state == "Sta6":
            await self.dul.release(self.timeout)
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=self.timeout)


async def open_association(host: str, port: int, called_ae_title: str,
                           calling_ae_title: str, contexts: Sequence[ContextSpec], *,
                           max_pdu_length: int = 262144, timeout: float | None = 30.0,
                           ssl: ssl_module.SSLContext | None = None,
                           roles: Sequence[P.RoleSelection] = (),
                           extended_negotiations: Sequence[P.SOPClassExtendedNegotiation] = (),
                           user_identity: P.UserIdentityRQ | None = None,
                           on_store: StoreHandler | None = None,
                           pool: Any = None) -> ClientAssociation:
    """Connect and negotiate; raises :class:`AssociationRejected` on A-ASSOCIATE-RJ.

    ``on_store`` receives C-STORE sub-operations of a C-GET (see
    ``services.storage.store_to_archive``); ``pool`` (an imaging ``RenderPool``) runs the
    decompression of objects the peer does not accept as stored."""
    if len(contexts) > 128:
        raise ValueError(f"Argument 'contexts' has {len(contexts)} presentation contexts; "
                         "at most 128 fit in an association (PS3.8 9.3.2.2)")
    proposed = []
    for i, spec in enumerate(contexts):
        if isinstance(spec, P.PresentationContextRQ):
            proposed.append(P.PresentationContextRQ(2 * i + 1, spec.abstract_syntax,
                                                    list(spec.transfer_syntaxes)))
        else:
            proposed.append(P.PresentationContextRQ(2 * i + 1, spec[0], list(spec[1])))
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl,
                                                       limit=2 * max_pdu_length + 64)
    assoc = ClientAssociation(ae_title=calling_ae_title, max_pdu_length=max_pdu_length,
                              timeout=timeout, on_store=on_store)
    assoc.run = pool.run if pool is not None else None
    assoc.called_ae_title, assoc.calling_ae_title = called_ae_title, calling_ae_title
    peer = writer.get_extra_info("peername")
    assoc.peer_address = f"{peer[0]}:{peer[1]}" if peer else f"{host}:{port}"
    assoc.dul = UpperLayer(reader, writer, assoc, requestor=True, max_pdu_length=max_pdu_length,
                           artim_timeout=timeout or 30.0, network_timeout=timeout)
    ui = P.UserInformation(max_length=max_pdu_length,
                           implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                           implementation_version_name=IMPLEMENTATION_VERSION_NAME,
                           role_selections=list(roles),
                           extended_negotiations=list(extended_negotiations),
                           user_identity_rq=user_identity)
    rq = P.AAssociateRQ(called_ae_title, calling_ae_title, proposed, ui)
    await assoc.dul.associate(rq)
    assoc._reader = asyncio.create_task(assoc._run())
    try:
        async with asyncio.timeout(timeout):
            answer = await asyncio.shield(assoc._confirm)
    except BaseException:
        await assoc.abort()
        raise
    if isinstance(answer, P.AAssociateRJ):
        raise AssociationRejected(answer)
    assoc.accepted_ac = answer
    assoc.peer_user_information = answer.user_information
    by_id = {pc.context_id: pc for pc in proposed}
    replied_roles = {r.sop_class_uid: r for r in answer.user_information.role_selections}
    for ac in answer.presentation_contexts:
        pc = by_id.get(ac.context_id)
        if pc is None or ac.result != P.PC_ACCEPTANCE:
            continue
        role = replied_roles.get(pc.abstract_syntax)
        scu, scp = (role.scu_role, role.scp_role) if role is not None else (True, False)
        assoc.contexts[ac.context_id] = AcceptedContext(ac.context_id, pc.abstract_syntax,
                                                        ac.transfer_syntax, scu, scp)
    return assoc


class Connect:
    """``await connect(...)`` or ``async with connect(...) as assoc`` (released at the end,
    aborted when the block is cancelled)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args, self._kwargs = args, kwargs
        self.assoc: ClientAssociation | None = None

    def __await__(self) -> Any:
        return open_association(*self._args, **self._kwargs).__await__()

    async def __aenter__(self) -> ClientAssociation:
        self.assoc = await open_association(*self._args, **self._kwargs)
        return self.assoc

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.assoc is not None
        if exc_type is None or not issubclass(exc_type, asyncio.CancelledError):
            try:
                await self.assoc.release()
                return
            except (AssociationClosed, ConnectionError):
                pass
        await self.assoc.abort()


def connect(host: str, port: int, called_ae_title: str, calling_ae_title: str,
            contexts: Sequence[ContextSpec], **kwargs: Any) -> Connect:
    """An association to ``host:port``; see :func:`open_association` for the options."""
    return Connect(host, port, called_ae_title, calling_ae_title, contexts, **kwargs)
