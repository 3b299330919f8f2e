"""An established association: DIMSE messages over the upper layer, in either role.

Incoming PDVs are assembled into messages here. Command fragments are small and are
accumulated; data set fragments go to a sink chosen per message as they arrive (the archive
ingest session for a C-STORE, a capped buffer for identifiers), so memory stays bounded
(DESIGN rule 3). Requests go to a :class:`RequestHandler`; responses go to whoever waits
for them (an SCU operation, or a C-GET sub-operation of the server).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hounsfield.archive.access import current_scope
from hounsfield.errors import HounsfieldError

from . import dimse as D
from . import pdu as P
from .datasets import BufferSink, DataSetSink, DataSetTooLarge, RefusingSink
from .dul import AssociationClosed, UpperLayer

if TYPE_CHECKING:
    from hounsfield.archive.access import Scope
    from hounsfield.auth.accounts import User

log = logging.getLogger("hounsfield.dicom.association")

IDENTIFIER_CAP = 4 << 20  # largest C-FIND/C-MOVE/C-GET identifier or response data set kept


@dataclass
class AcceptedContext:
    """A presentation context both sides agreed on (PS3.8 7.1.1.13)."""

    context_id: int
    abstract_syntax: str
    transfer_syntax: str
    requestor_scu: bool = True  # roles of the association requestor (PS3.7 D.3.3.4)
    requestor_scp: bool = False


@dataclass
class Message:
    """A complete DIMSE message: command set and, when present, its data set."""

    command: D.Command
    context: AcceptedContext
    data_set: bytes | None = None


@dataclass
class Operation:
    """A request being served; C-CANCEL sets ``cancelled`` (PS3.7 9.3.2.3)."""

    message_id: int
    cancelled: bool = False
    task: asyncio.Task[None] | None = None
    final_status: int | None = None  # of the last non-pending response sent


class RequestHandler(Protocol):
    """The services behind an association (``services/`` for the server)."""

    async def open_store(self, assoc: "Association", message: Message) -> DataSetSink:
        """Sink for the data set of a C-STORE-RQ; its ``finish()`` returns (status, comment)."""
        ...

    async def handle(self, assoc: "Association", message: Message, operation: Operation) -> None:
        """Serve a non-storage request and send its response(s)."""
        ...


@dataclass
class _Incoming:
    command: D.Command
    context: AcceptedContext
    sink: DataSetSink | None = None
    failed: str | None = None


class Association:
    """One association (acceptor or requestor) above its :class:`UpperLayer`."""

    def __init__(self, *, requestor: bool, ae_title: str, max_pdu_length: int,
                 handler: RequestHandler | None = None) -> None:
        self.requestor = requestor
        self.ae_title = ae_title
        self.max_pdu_length = max_pdu_length
        self.handler = handler
        self.dul: UpperLayer | None = None
        self.contexts: dict[int, AcceptedContext] = {}
        self.calling_ae_title = ""
        self.called_ae_title = ""
        self.peer_address = ""
        self.peer_user_information: P.UserInformation | None = None
        # The peer's user when it proved a User Identity (PS3.7 D.3.3.7), and the studies
        # its operations may see (None: all), applied through archive.access.current_scope.
        self.user: User | None = None
        self.scope: Scope | None = None
        self.operations: dict[int, Operation] = {}
        self._responses: dict[int, asyncio.Queue[Message | None]] = {}
        self._command = bytearray()
        self._incoming: _Incoming | None = None
        self._next_message_id = 0
        self._closed = asyncio.Event()
        self.close_reason = ""
        self.aborted = False

    @staticmethod
    def connect(host: str, port: int, called_ae_title: str, calling_ae_title: str,
                contexts: Any, **kwargs: Any) -> Any:
        """Open an association as requestor: ``async with Association.connect(...) as a``.
        See :func:`hounsfield.dicom.client.open_association` for the options."""
        from .client import connect
        return connect(host, port, called_ae_title, calling_ae_title, contexts, **kwargs)

    # --- identity -----------------------------------------------------------------------
    @property
    def peer_ae_title(self) -> str:
        return self.called_ae_title if self.requestor else self.calling_ae_title

    @property
    def peer_host(self) -> str | None:
        """The peer's address without the port, for audit events and login throttling."""
        return self.peer_address.rsplit(":", 1)[0] if self.peer_address else None

    @property
    def is_established(self) -> bool:
        return self.dul is not None and self.dul.state == "Sta6"

    def next_message_id(self) -> int:
        self._next_message_id = self._next_message_id % 0xFFFF + 1
        return self._next_message_id

    def find_context(self, abstract_syntax: str, transfer_syntaxes: tuple[str, ...] | None = None,
                     *, we_are_scu: bool = True) -> AcceptedContext | None:
        """An accepted context for ``abstract_syntax`` where we may act as SCU (or SCP),
        preferring the transfer syntaxes in the order given."""
        found = [ctx for ctx in self.contexts.values()
                 if ctx.abstract_syntax == abstract_syntax
                 and self._may_act(ctx, as_scu=we_are_scu)]
        if transfer_syntaxes is None:
            return found[0] if found else None
        for ts in transfer_syntaxes:
            for ctx in found:
                if ctx.transfer_syntax == ts:
                    return ctx
        return None

    def _may_act(self, ctx: AcceptedContext, *, as_scu: bool) -> bool:
        """Roles are negotiated for the requestor; the acceptor takes the other role of each
        pair (PS3.7 D.3.3.4)."""
        if self.requestor:
            return ctx.requestor_scu if as_scu else ctx.requestor_scp
        return ctx.requestor_scp if as_scu else ctx.requestor_scu

    # --- ServiceUser callbacks of the upper layer ---------------------------------------
    def busy(self) -> bool:
        return bool(self.operations) or self._incoming is not None or bool(self._responses)

    async def on_associate_request(self, rq: P.AAssociateRQ) -> P.AAssociateAC | P.AAssociateRJ:
        raise NotImplementedError  # the server's acceptor overrides this

    async def on_associate_confirm(self, pdu: P.AAssociateAC | P.AAssociateRJ) -> None:
        raise NotImplementedError  # the client overrides this

    async def on_release_request(self) -> None:
        """Let the operations in progress finish before A-RELEASE-RP (PS3.7 D.2)."""
        tasks = [op.task for op in self.operations.values() if op.task is not None]
        if tasks:
            await asyncio.wait(tasks)

    def on_closed(self, aborted: bool, reason: str) -> None:
        if self._closed.is_set():
            return
        self.aborted = aborted
        self.close_reason = reason
        self._closed.set()
        for queue in self._responses.values():
            queue.put_nowait(None)
        for op in self.operations.values():
            op.cancelled = True

    async def on_pdata(self, pdvs: list[P.PDV]) -> None:
        # Every DIMSE operation runs with the peer's study scope, as an HTTP request runs
        # with its caller's: the C-STORE sinks run here, and the operation tasks started
        # here copy the context.
        token = current_scope.set(self.scope)
        try:
            await self._receive(pdvs)
        finally:
            current_scope.reset(token)

    async def _receive(self, pdvs: list[P.PDV]) -> None:
        for pdv in pdvs:
            ctx = self.contexts.get(pdv.context_id)
            if ctx is None:
                await self._protocol_abort(f"PDV on presentation context {pdv.context_id}, "
                                           "which was not accepted")
                return
            if pdv.is_command:
                if self._incoming is not None:
                    await self._protocol_abort("Command fragment in the middle of a data set")
                    return
                self._command += pdv.data
                if len(self._command) > 65536:
                    await self._protocol_abort("Command set larger than 64 KiB")
                    return
                if pdv.is_last:
                    try:
                        command = D.decode_command(self._command)
                    except D.DIMSEError as exc:
                        await self._protocol_abort(f"Undecodable command set: {exc}")
                        return
                    finally:
                        self._command = bytearray()
                    await self._command_received(command, ctx)
            else:
                incoming = self._incoming
                if incoming is None or incoming.context.context_id != pdv.context_id:
                    await self._protocol_abort("Data set fragment without its command, or on "
                                               "another presentation context")
                    return
                if incoming.sink is not None and incoming.failed is None:
                    try:
                        await incoming.sink.write(pdv.data)
                    except Exception as exc:  # keep reading: the failure becomes the status
                        log.exception("Data set sink failed")
                        incoming.failed = str(exc) or type(exc).__name__
                if pdv.is_last:
                    self._incoming = None
                    await self._data_set_received(incoming)

    async def _protocol_abort(self, reason: str) -> None:
        log.warning("Aborting association with %s: %s", self.peer_ae_title, reason)
        if self.dul is not None:
            self.dul.abort_source = P.ABORT_SOURCE_PROVIDER
            self.dul.abort_reason = reason
            await self.dul.abort(reason)

    async def _command_received(self, command: D.Command, ctx: AcceptedContext) -> None:
        if not command.has_data_set:
            await self._dispatch(Message(command, ctx))
            return
        incoming = _Incoming(command, ctx)
        self._incoming = incoming
        if command.command_field == D.C_STORE_RQ:
            if self.handler is None:
                incoming.sink = RefusingSink(D.SOP_CLASS_NOT_SUPPORTED,
                                             "No storage service on this association")
            else:
                try:
                    incoming.sink = await self.handler.open_store(self, Message(command, ctx))
                except Exception as exc:
                    log.exception("Cannot start storing %s", command.affected_sop_instance_uid)
                    status = getattr(exc, "dimse_status", D.REFUSED_OUT_OF_RESOURCES)
                    incoming.sink = RefusingSink(status, str(exc))
        else:
            incoming.sink = BufferSink(IDENTIFIER_CAP)

    async def _data_set_received(self, incoming: _Incoming) -> None:
        command, ctx, sink = incoming.command, incoming.context, incoming.sink
        if command.command_field == D.C_STORE_RQ:
            assert sink is not None
            status, comment = D.REFUSED_OUT_OF_RESOURCES, incoming.failed
            if incoming.failed is not None:
                await sink.abort()
            else:
                try:
                    status, comment = await sink.finish()
                except Exception as exc:
                    log.exception("Storing %s failed", command.affected_sop_instance_uid)
                    status = getattr(exc, "dimse_status", D.REFUSED_OUT_OF_RESOURCES)
                    comment = str(exc)
            await self._send_store_response(command, ctx, status, comment)
            return
        data: bytes | None = None
        try:
            data = await sink.finish() if sink is not None else None
        except DataSetTooLarge as exc:
            incoming.failed = str(exc)
        if incoming.failed is not None:
            if command.is_request:
                await self.send_response(command, ctx, D.CANNOT_UNDERSTAND,
                                         error_comment=incoming.failed)
                return
            data = None
        await self._dispatch(Message(command, ctx, data))

    async def _send_store_response(self, rq: D.Command, ctx: AcceptedContext, status: int,
                                   comment: str | None) -> None:
        rsp = D.Command(D.C_STORE_RSP, message_id_being_responded_to=rq.message_id,
                        affected_sop_class_uid=rq.affected_sop_class_uid,
                        affected_sop_instance_uid=rq.affected_sop_instance_uid, status=status)
        if comment and status != D.SUCCESS:
            rsp.error_comment = comment[:64]
        await self.send(ctx, rsp)

    async def _dispatch(self, message: Message) -> None:
        command = message.command
        if not command.is_request:
            queue = self._responses.get(command.message_id_being_responded_to or 0)
            if queue is None:
                log.warning("Unexpected %s for message %s", command.name,
                            command.message_id_being_responded_to)
            else:
                queue.put_nowait(message)
            return
        if command.command_field == D.C_CANCEL_RQ:
            op = self.operations.get(command.message_id_being_responded_to or 0)
            if op is not None:
                op.cancelled = True
            return
        if self.handler is None:
            await self.send_response(command, message.context, D.SOP_CLASS_NOT_SUPPORTED)
            return
        op = Operation(command.message_id or 0)
        if command.command_field == D.C_ECHO_RQ:
            await self._run_handler(message, op)  # fast: answer inline
            return
        # Retrieval and queries run beside the reader so C-CANCEL and sub-operation
        # responses keep arriving (PS3.4 C.4.2.2.2).
        self.operations[op.message_id] = op
        op.task = asyncio.create_task(self._run_handler(message, op))

    async def _run_handler(self, message: Message, op: Operation) -> None:
        assert self.handler is not None
        try:
            await self.handler.handle(self, message, op)
        except AssociationClosed:
            pass
        except Exception as exc:  # a service failure is a status, never a dead association
            if isinstance(exc, HounsfieldError) and exc.http_status < 500:
                log.warning("%s from %s refused: %s", message.command.name,
                            self.peer_ae_title, exc)  # the request's fault, not ours
            else:
                log.exception("%s handler failed", message.command.name)
            status = getattr(exc, "dimse_status", None)
            if message.command.command_field != D.C_ECHO_RQ and (
                    status is None or D.status_category(status) != "failure"):
                status = D.UNABLE_TO_PROCESS
            try:
                await self.send_response(message.command, message.context,
                                         status or D.UNABLE_TO_PROCESS,
                                         error_comment=str(exc))
            except AssociationClosed:
                pass
            except D.DIMSEError as error:  # the request cannot even be answered
                await self._protocol_abort(f"Cannot answer {message.command.name}: {error}")
        finally:
            self.operations.pop(op.message_id, None)

    # --- sending ------------------------------------------------------------------------
    async def send(self, ctx: AcceptedContext, command: D.Command,
                   data_set: bytes | None = None) -> None:
        if self.dul is None:
            raise AssociationClosed("Not connected")
        command.command_data_set_type = D.DATA_SET_PRESENT if data_set is not None \
            else D.NO_DATA_SET
        await self.dul.send_message(ctx.context_id, D.encode_command(command), data_set)

    async def send_response(self, rq: D.Command, ctx: AcceptedContext, status: int, *,
                            data_set: bytes | None = None, error_comment: str | None = None,
                            **fields: Any) -> None:
        """Send the response matching request ``rq`` (PS3.7 9.3)."""
        rsp = D.Command(rq.command_field | 0x8000, message_id_being_responded_to=rq.message_id,
                        affected_sop_class_uid=rq.affected_sop_class_uid, status=status,
                        **fields)
        if rq.command_field == D.C_STORE_RQ:
            rsp.affected_sop_instance_uid = rq.affected_sop_instance_uid
        if error_comment and D.status_category(status) == "failure":
            rsp.error_comment = error_comment[:64]
        operation = self.operations.get(rq.message_id or 0)
        if operation is not None and D.status_category(status) != "pending":
            operation.final_status = status
        await self.send(ctx, rsp, data_set)

    def expect_responses(self, message_id: int) -> asyncio.Queue[Message | None]:
        """A queue that receives the responses to request ``message_id``."""
        queue: asyncio.Queue[Message | None] = asyncio.Queue()
        if self._closed.is_set():
            queue.put_nowait(None)
        self._responses[message_id] = queue
        return queue

    def forget_responses(self, message_id: int) -> None:
        self._responses.pop(message_id, None)

    async def next_response(self, queue: asyncio.Queue[Message | None],
                            timeout: float | None) -> Message:
        """The next response from ``queue``; raises when the association ends first."""
        try:
            async with asyncio.timeout(timeout):
                message = await queue.get()
        except TimeoutError:
            raise TimeoutError(f"No response from {self.peer_ae_title} within {timeout} s") \
                from None
        if message is None:
            raise AssociationClosed(f"Association with {self.peer_ae_title} ended: "
                                    f"{self.close_reason}")
        return message

    # --- ending -------------------------------------------------------------------------
    async def cleanup(self) -> None:
        """After the connection ends: drop a half-received data set (DESIGN rule 2)."""
        incoming, self._incoming = self._incoming, None
        if incoming is not None and incoming.sink is not None:
            try:
                await incoming.sink.abort()
            except Exception:
                log.exception("Dropping a partial data set failed")
        for op in list(self.operations.values()):
            if op.task is not None and not op.task.done():
                op.task.cancel()
        self.on_closed(True, self.close_reason or "connection ended")

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def abort(self) -> None:
        if self.dul is not None:
            await self.dul.abort()
