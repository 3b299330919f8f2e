"""The DICOM upper layer state machine (PS3.8 9.2) on asyncio streams.

One :class:`UpperLayer` per TCP connection. Its reader task reads PDUs incrementally,
turns each into an event of PS3.8 Table 9-10 and runs the action the table names. The
service user above it (``association.py``) receives indications through
:class:`ServiceUser` callbacks and issues primitives (P-DATA, release, abort) through the
methods of this class. No threads and no polling: every wait is an awaited read or a
timeout.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Protocol

from . import pdu as P

log = logging.getLogger("hounsfield.dicom.dul")

# Largest association-control PDU we read (A-ASSOCIATE-RQ/AC). Our maximum length only
# bounds P-DATA-TF (PS3.8 D.1), so other PDUs get their own fixed cap.
MAX_CONTROL_PDU = 1 << 20
# Fragment size when the peer announces 0 (no limit) as its maximum length.
UNLIMITED_FRAGMENT = 1 << 20
WRITE_BATCH = 256 * 1024

STATES = {
    "Sta1": "Idle",
    "Sta2": "Transport connection open (awaiting A-ASSOCIATE-RQ PDU)",
    "Sta3": "Awaiting local A-ASSOCIATE response primitive",
    "Sta4": "Awaiting transport connection opening to complete",
    "Sta5": "Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU",
    "Sta6": "Association established and ready for data transfer",
    "Sta7": "Awaiting A-RELEASE-RP PDU",
    "Sta8": "Awaiting local A-RELEASE response primitive",
    "Sta9": "Release collision requestor side; awaiting A-RELEASE response primitive",
    "Sta10": "Release collision acceptor side; awaiting A-RELEASE-RP PDU",
    "Sta11": "Release collision requestor side; awaiting A-RELEASE-RP PDU",
    "Sta12": "Release collision acceptor side; awaiting A-RELEASE response primitive",
    "Sta13": "Awaiting transport connection close indication",
}

EVENTS = {
    "Evt1": "A-ASSOCIATE request (local user)",
    "Evt2": "Transport connect confirmation",
    "Evt3": "A-ASSOCIATE-AC PDU received",
    "Evt4": "A-ASSOCIATE-RJ PDU received",
    "Evt5": "Transport connection indication",
    "Evt6": "A-ASSOCIATE-RQ PDU received",
    "Evt7": "A-ASSOCIATE response primitive (accept)",
    "Evt8": "A-ASSOCIATE response primitive (reject)",
    "Evt9": "P-DATA request primitive",
    "Evt10": "P-DATA-TF PDU received",
    "Evt11": "A-RELEASE request primitive",
    "Evt12": "A-RELEASE-RQ PDU received",
    "Evt13": "A-RELEASE-RP PDU received",
    "Evt14": "A-RELEASE response primitive",
    "Evt15": "A-ABORT request primitive",
    "Evt16": "A-ABORT PDU received",
    "Evt17": "Transport connection closed indication",
    "Evt18": "ARTIM timer expired",
    "Evt19": "Unrecognized or invalid PDU received",
}

_ALL = [f"Sta{i}" for i in range(1, 14)]
_ESTABLISHED = [f"Sta{i}" for i in range(6, 13)]  # Sta6..Sta12
TRANSITIONS: dict[tuple[str, str], str] = {}  # (event, state) -> action (PS3.8 Table 9-10)


def _t(event: str, action: str, *states: str) -> None:
    for state in states:
        TRANSITIONS[(event, state)] = action


_t("Evt1", "AE-1", "Sta1")
_t("Evt2", "AE-2", "Sta4")
for _evt, _ok_state, _ok_action in (("Evt3", "Sta5", "AE-3"), ("Evt4", "Sta5", "AE-4")):
    _t(_evt, "AA-1", "Sta2")
    _t(_evt, "AA-8", "Sta3", *_ESTABLISHED)
    _t(_evt, _ok_action, _ok_state)
    _t(_evt, "AA-6", "Sta13")
_t("Evt5", "AE-5", "Sta1")
_t("Evt6", "AE-6", "Sta2")
_t("Evt6", "AA-8", "Sta3", "Sta5", *_ESTABLISHED)
_t("Evt6", "AA-7", "Sta13")
_t("Evt7", "AE-7", "Sta3")
_t("Evt8", "AE-8", "Sta3")
_t("Evt9", "DT-1", "Sta6")
_t("Evt9", "AR-7", "Sta8")
_t("Evt10", "AA-1", "Sta2")
_t("Evt10", "AA-8", "Sta3", "Sta5", *_ESTABLISHED[2:])
_t("Evt10", "DT-2", "Sta6")
_t("Evt10", "AR-6", "Sta7")
_t("Evt10", "AA-6", "Sta13")
_t("Evt11", "AR-1", "Sta6")
_t("Evt12", "AA-1", "Sta2")
_t("Evt12", "AA-8", "Sta3", "Sta5", *_ESTABLISHED[2:])
_t("Evt12", "AR-2", "Sta6")
_t("Evt12", "AR-8", "Sta7")
_t("Evt12", "AA-6", "Sta13")
_t("Evt13", "AA-1", "Sta2")
_t("Evt13", "AA-8", "Sta3", "Sta5", "Sta6", "Sta8", "Sta9", "Sta12")
_t("Evt13", "AR-3", "Sta7", "Sta11")
_t("Evt13", "AR-10", "Sta10")
_t("Evt13", "AA-6", "Sta13")
_t("Evt14", "AR-4", "Sta8", "Sta12")
_t("Evt14", "AR-9", "Sta9")
_t("Evt15", "AA-1", "Sta3", "Sta5", *_ESTABLISHED)
_t("Evt15", "AA-2", "Sta4")
_t("Evt16", "AA-2", "Sta2", "Sta13")
_t("Evt16", "AA-3", "Sta3", "Sta5", *_ESTABLISHED)
_t("Evt17", "AA-5", "Sta2")
_t("Evt17", "AA-4", "Sta3", "Sta4", "Sta5", *_ESTABLISHED)
_t("Evt17", "AR-5", "Sta13")
_t("Evt18", "AA-2", "Sta2", "Sta13")
_t("Evt19", "AA-1", "Sta2")
_t("Evt19", "AA-8", "Sta3", "Sta5", *_ESTABLISHED)
_t("Evt19", "AA-7", "Sta13")

_PDU_EVENTS = {P.A_ASSOCIATE_RQ: "Evt6", P.A_ASSOCIATE_AC: "Evt3", P.A_ASSOCIATE_RJ: "Evt4",
               P.P_DATA_TF: "Evt10", P.A_RELEASE_RQ: "Evt12", P.A_RELEASE_RP: "Evt13",
               P.A_ABORT: "Evt16"}


class AssociationClosed(ConnectionError):
    """The association is no longer usable (released, aborted or the connection dropped)."""


class ServiceUser(Protocol):
    """What the upper layer indicates to the layer above it (PS3.8 7)."""

    async def on_associate_request(self, rq: P.AAssociateRQ) -> P.AAssociateAC | P.AAssociateRJ:
        ...

    async def on_associate_confirm(self, pdu: P.AAssociateAC | P.AAssociateRJ) -> None: ...

    async def on_pdata(self, pdvs: list[P.PDV]) -> None: ...

    async def on_release_request(self) -> None: ...

    def on_closed(self, aborted: bool, reason: str) -> None: ...

    def busy(self) -> bool: ...


def set_nodelay(writer: asyncio.StreamWriter) -> None:
    """DIMSE is request/response: Nagle's algorithm would add 40 ms stalls."""
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class UpperLayer:
    """The DUL of one connection: PDU I/O, state machine, ARTIM and idle timers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 user: ServiceUser, *, requestor: bool, max_pdu_length: int,
                 artim_timeout: float, idle_timeout: float | None = None,
                 network_timeout: float | None = None) -> None:
        if max_pdu_length <= 0:
            raise ValueError("Argument 'max_pdu_length' must be positive (dicom.max_pdu_length)")
        self.reader = reader
        self.writer = writer
        self.user = user
        self.requestor = requestor
        self.max_pdu_length = max_pdu_length
        self.peer_max_pdu_length = 0
        self.artim_timeout = artim_timeout
        self.idle_timeout = idle_timeout if idle_timeout and idle_timeout > 0 else None
        self.network_timeout = network_timeout
        self.state = "Sta1"
        self._artim_deadline: float | None = None
        self._send_lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self.abort_reason = ""
        self.abort_source = P.ABORT_SOURCE_USER
        self.history: list[tuple[str, str, str]] = []  # (state, event, action), for debugging
        set_nodelay(writer)

    # --- timers -------------------------------------------------------------------------
    def _start_artim(self) -> None:
        self._artim_deadline = self._loop.time() + self.artim_timeout

    def _stop_artim(self) -> None:
        self._artim_deadline = None

    def _header_timeout(self) -> float | None:
        if self._artim_deadline is not None:
            return max(self._artim_deadline - self._loop.time(), 0.0)
        if self.state in ("Sta5", "Sta7", "Sta10", "Sta11"):
            return self.network_timeout
        if self.state == "Sta6":
            return self.idle_timeout  # re-armed while an operation is in progress
        return None

    # --- the state machine --------------------------------------------------------------
    async def event(self, event: str, pdu: P.PDU | None = None, *,
                    abort_reason: int = P.REASON_NOT_SPECIFIED) -> None:
        """Run the action PS3.8 Table 9-10 gives for ``event`` in the current state."""
        action = TRANSITIONS.get((event, self.state))
        if action is None:
            if event in ("Evt9", "Evt11", "Evt14", "Evt15"):
                raise AssociationClosed(f"{EVENTS[event]} is not valid in state "
                                        f"{self.state} ({STATES[self.state]})")
            action = "AA-8" if self.state != "Sta1" else "AA-2"
        self.history.append((self.state, event, action))
        if len(self.history) > 64:
            del self.history[:32]
        await getattr(self, "_" + action.replace("-", "_"))(pdu, abort_reason)

    async def _AE_1(self, pdu: P.PDU | None, _: int) -> None:
        self.state = "Sta4"  # the caller opens the connection (asyncio.open_connection)

    async def _AE_2(self, pdu: P.PDU | None, _: int) -> None:
        assert pdu is not None
        self._write(P.encode(pdu))
        self.state = "Sta5"

    async def _AE_3(self, pdu: P.PDU | None, _: int) -> None:
        assert isinstance(pdu, P.AAssociateAC)
        self.peer_max_pdu_length = pdu.user_information.max_length
        self.state = "Sta6"
        await self.user.on_associate_confirm(pdu)

    async def _AE_4(self, pdu: P.PDU | None, _: int) -> None:
        assert isinstance(pdu, P.AAssociateRJ)
        self.state = "Sta1"
        await self.user.on_associate_confirm(pdu)
        self._close(False, "association rejected")

    async def _AE_5(self, pdu: P.PDU | None, _: int) -> None:
        self._start_artim()
        self.state = "Sta2"

    async def _AE_6(self, pdu: P.PDU | None, _: int) -> None:
        assert isinstance(pdu, P.AAssociateRQ)
        self._stop_artim()
        self.state = "Sta3"
        response = await self.user.on_associate_request(pdu)
        if isinstance(response, P.AAssociateAC):
            self.peer_max_pdu_length = pdu.user_information.max_length
            await self.event("Evt7", response)
        else:
            await self.event("Evt8", response)

    async def _AE_7(self, pdu: P.PDU | None, _: int) -> None:
        assert pdu is not None
        self._write(P.encode(pdu))
        self.state = "Sta6"

    async def _AE_8(self, pdu: P.PDU | None, _: int) -> None:
        assert pdu is not None
        self._write(P.encode(pdu))
        self._start_artim()
        self.state = "Sta13"

    async def _DT_1(self, pdu: P.PDU | None, _: int) -> None:
        pass  # data are written by send_* under the send lock

    async def _DT_2(self, pdu: P.PDU | None, _: int) -> None:
        assert isinstance(pdu, P.PDataTF)
        await self.user.on_pdata(pdu.pdvs)

    async def _AR_1(self, pdu: P.PDU | None, _: int) -> None:
        self._write(P.encode(P.AReleaseRQ()))
        self.state = "Sta7"

    async def _AR_2(self, pdu: P.PDU | None, _: int) -> None:
        self.state = "Sta8"
        await self.user.on_release_request()  # waits for operations in progress to end
        if self.state == "Sta8":
            await self.event("Evt14")

    async def _AR_3(self, pdu: P.PDU | None, _: int) -> None:
        self.state = "Sta1"
        self._close(False, "released")

    async def _AR_4(self, pdu: P.PDU | None, _: int) -> None:
        self._write(P.encode(P.AReleaseRP()))
        self._start_artim()
        self.state = "Sta13"

    async def _AR_5(self, pdu: P.PDU | None, _: int) -> None:
        self._stop_artim()
        self.state = "Sta1"
        self._close(False, "released")

    async def _AR_6(self, pdu: P.PDU | None, _: int) -> None:
        assert isinstance(pdu, P.PDataTF)
        await self.user.on_pdata(pdu.pdvs)

    async def _AR_7(self, pdu: P.PDU | None, _: int) -> None:
        self.state = "Sta8"

    async def _AR_8(self, pdu: P.PDU | None, _: int) -> None:
        # Release collision (PS3.8 9.2.2.2): both sides asked to release at once.
        if self.requestor:
            self.state = "Sta9"
            await self.event("Evt14")
        else:
            self.state = "Sta10"

    async def _AR_9(self, pdu: P.PDU | None, _: int) -> None:
        self._write(P.encode(P.AReleaseRP()))
        self.state = "Sta11"

    async def _AR_10(self, pdu: P.PDU | None, _: int) -> None:
        self.state = "Sta12"
        await self.event("Evt14")

    async def _AA_1(self, pdu: P.PDU | None, reason: int) -> None:
        self._write(P.encode(P.AAbort(self.abort_source, reason)))
        self._start_artim()
        self.state = "Sta13"
        self.user.on_closed(True, self.abort_reason or "aborted")

    async def _AA_2(self, pdu: P.PDU | None, _: int) -> None:
        self._stop_artim()
        self.state = "Sta1"
        self._close(True, self.abort_reason or "timed out")

    async def _AA_3(self, pdu: P.PDU | None, _: int) -> None:
        self.state = "Sta1"
        source = pdu.source if isinstance(pdu, P.AAbort) else 0
        self._close(True, f"peer aborted (source {source}, reason "
                          f"{pdu.reason if isinstance(pdu, P.AAbort) else 0})")

    async def _AA_4(self, pdu: P.PDU | None, _: int) -> None:
        self.state = "Sta1"
        self._close(True, "connection closed by peer")

    async def _AA_5(self, pdu: P.PDU | None, _: int) -> None:
        self._stop_artim()
        self.state = "Sta1"
        self._close(True, "connection closed before association")

    async def _AA_6(self, pdu: P.PDU | None, _: int) -> None:
        self.state = "Sta13"  # ignore the PDU

    async def _AA_7(self, pdu: P.PDU | None, reason: int) -> None:
        self._write(P.encode(P.AAbort(P.ABORT_SOURCE_PROVIDER, reason)))
        self.state = "Sta13"

    async def _AA_8(self, pdu: P.PDU | None, reason: int) -> None:
        if reason == P.REASON_NOT_SPECIFIED and pdu is not None:
            reason = P.REASON_UNEXPECTED_PDU
        self._write(P.encode(P.AAbort(P.ABORT_SOURCE_PROVIDER, reason)))
        self._start_artim()
        self.state = "Sta13"
        self.user.on_closed(True, self.abort_reason or "unexpected PDU")

    # --- transport ----------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def _close(self, aborted: bool, reason: str) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        self.user.on_closed(aborted, reason)
        if not self.closed.done():
            self.closed.set_result(None)

    async def _read(self, n: int, timeout: float | None) -> bytes:
        if timeout is None:
            return await self.reader.readexactly(n)
        async with asyncio.timeout(timeout):
            return await self.reader.readexactly(n)

    async def run(self) -> None:
        """Read and handle PDUs until the connection is closed (the reader task)."""
        if not self.requestor and self.state == "Sta1":
            await self.event("Evt5")
        try:
            while self.state != "Sta1":
                try:
                    header = await self._read(6, self._header_timeout())
                except TimeoutError:
                    if self._artim_deadline is not None:
                        self.abort_reason = "ARTIM timer expired"
                        await self.event("Evt18")
                    elif self.state == "Sta6" and self.user.busy():
                        continue
                    else:
                        self.abort_reason = f"peer silent for too long in {self.state}"
                        self.abort_source = P.ABORT_SOURCE_PROVIDER
                        await self.abort()
                    continue
                try:
                    pdu_type, length = P.decode_header(header)
                    limit = self.max_pdu_length if pdu_type == P.P_DATA_TF else MAX_CONTROL_PDU
                    if length > limit:
                        raise P.PDUError(f"PDU of {length} bytes exceeds the maximum of {limit}",
                                         P.REASON_INVALID_PARAMETER)
                    try:
                        body = await self._read(length, self.network_timeout or
                                                self.artim_timeout)
                    except TimeoutError:
                        raise P.PDUError(f"Peer stopped in the middle of a {length}-byte "
                                         "PDU") from None
                    pdu = P.decode_body(pdu_type, body)
                except P.PDUError as exc:
                    log.warning("Aborting association: %s", exc)
                    self.abort_reason = str(exc)
                    self.abort_source = P.ABORT_SOURCE_PROVIDER
                    await self.event("Evt19", abort_reason=exc.reason)
                    if self.state == "Sta13":
                        self._abort_transport()  # the stream is unusable past a bad PDU
                    continue
                await self.event(_PDU_EVENTS[pdu_type], pdu)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            if self.state != "Sta1":
                await self.event("Evt17")
            log.debug("Connection ended: %r", exc)
        except Exception:  # a bug above us must cost this association only
            log.exception("Aborting the association after an internal error")
            self.abort_source = P.ABORT_SOURCE_PROVIDER
            self.abort_reason = "internal error"
            await self.abort()
        finally:
            if self.state != "Sta1":
                self.state = "Sta1"
                self._close(True, self.abort_reason or "connection lost")
            self._abort_transport_if_open()

    def _abort_transport(self) -> None:
        self.state = "Sta1"
        self._close(True, self.abort_reason or "aborted")

    def _abort_transport_if_open(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    # --- primitives issued by the service user ------------------------------------------
    async def associate(self, rq: P.AAssociateRQ) -> None:
        """Send an A-ASSOCIATE-RQ on the already open connection (Evt1 then Evt2)."""
        await self.event("Evt1")
        await self.event("Evt2", rq)

    async def release(self, timeout: float | None) -> None:
        """A-RELEASE request; returns once released (or aborts after ``timeout``)."""
        await self.event("Evt11")
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self.closed)
        except TimeoutError:
            self.abort_reason = "no A-RELEASE-RP"
            await self.abort()

    async def abort(self, reason: str = "aborted by us") -> None:
        """A-ABORT request (Evt15); the connection is closed right after."""
        if self.state == "Sta1":
            return
        self.abort_reason = self.abort_reason or reason
        if self.state not in ("Sta13",):
            try:
                await self.event("Evt15")
            except AssociationClosed:
                pass  # no association yet (Sta2): just close the connection
        self._abort_transport()

    @property
    def can_send(self) -> bool:
        return self.state in ("Sta6", "Sta8") and not self.writer.is_closing()

    def _fragment_size(self) -> int:
        peer = self.peer_max_pdu_length
        return UNLIMITED_FRAGMENT if peer == 0 else max(peer - 6, 1)

    def _fragments(self, out: list[bytes | memoryview], context_id: int, control: int,
                   data: bytes | memoryview, last: bool = True) -> None:
        size = self._fragment_size()
        view = memoryview(data)
        total = len(view)
        pos = 0
        while True:
            chunk = view[pos:pos + size]
            pos += len(chunk)
            final = last and pos >= total
            out.append(P.encode_pdata_header(context_id, control | (2 if final else 0),
                                             len(chunk)))
            if len(chunk):
                out.append(chunk)
            if pos >= total:
                return

    async def send_message(self, context_id: int, command: bytes,
                           data_set: bytes | memoryview | None = None) -> None:
        """Send one DIMSE message (command and optional data set), fragmented to the
        peer's maximum length (PS3.8 9.3.5)."""
        parts: list[bytes | memoryview] = []
        self._fragments(parts, context_id, 1, command)
        if data_set is not None:
            self._fragments(parts, context_id, 0, data_set)
        async with self._send_lock:
            if not self.can_send:
                raise AssociationClosed(f"Cannot send in state {self.state}")
            await self._write_parts(parts)

    async def send_message_stream(self, context_id: int, command: bytes,
                                  data_set: AsyncIterator[bytes | memoryview]) -> None:
        """Send a message whose data set comes in chunks (streamed from storage)."""
        async with self._send_lock:
            if not self.can_send:
                raise AssociationClosed(f"Cannot send in state {self.state}")
            parts: list[bytes | memoryview] = []
            self._fragments(parts, context_id, 1, command)
            previous: bytes | memoryview | None = None
            async for chunk in data_set:
                if not len(chunk):
                    continue
                if previous is not None:
                    self._fragments(parts, context_id, 0, previous, last=False)
                    await self._write_parts(parts)
                    parts = []
                previous = chunk
            self._fragments(parts, context_id, 0, previous if previous is not None else b"")
            await self._write_parts(parts)

    async def _write_parts(self, parts: list[bytes | memoryview]) -> None:
        """Write PDU pieces in batches of about 256 KiB: few system calls, bounded memory."""
        if self.writer.is_closing():
            raise AssociationClosed("Connection closed")
        batch = bytearray()
        for part in parts:
            batch += part
            if len(batch) >= WRITE_BATCH:
                self.writer.write(batch)
                batch = bytearray()
        if batch:
            self.writer.write(batch)
        await self.writer.drain()
