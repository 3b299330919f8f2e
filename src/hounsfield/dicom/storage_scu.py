"""Sending stored objects with C-STORE (PS3.4 B.2), as SCU or as C-MOVE/C-GET
sub-operations: the data set streams from its Part 10 source to the socket; when the peer
did not accept the stored transfer syntax, it is decompressed to an uncompressed syntax
the peer accepted, or fails with a clear reason."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import dimse as D
from .association import AcceptedContext, Association
from .datasets import UNCOMPRESSED, NeedMoreData, parse_file_meta

log = logging.getLogger("hounsfield.dicom.storage_scu")


@dataclass
class StoreResult:
    """The outcome of one C-STORE we sent."""

    status: int
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    reason: str | None = None

    @property
    def category(self) -> str:
        return D.status_category(self.status)

    @property
    def ok(self) -> bool:
        return self.category in ("success", "warning")


class Part10Source:
    """A Part 10 stream that can be opened (read from the start) more than once."""

    def __init__(self, opener: Callable[[], AsyncIterator[bytes]], description: str) -> None:
        self.open = opener
        self.description = description

    @classmethod
    def from_bytes(cls, data: bytes, description: str = "data") -> "Part10Source":
        async def opener() -> AsyncIterator[bytes]:
            yield data
        return cls(opener, description)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], chunk_size: int = 1 << 20
                  ) -> "Part10Source":
        async def opener() -> AsyncIterator[bytes]:
            fh = await asyncio.to_thread(open, path, "rb")
            try:
                while chunk := await asyncio.to_thread(fh.read, chunk_size):
                    yield chunk
            finally:
                fh.close()
        return cls(opener, str(path))

    @classmethod
    def from_archive(cls, archive: Any, ref: Any) -> "Part10Source":
        def opener() -> AsyncIterator[bytes]:
            return archive.read_instance(ref)  # type: ignore[no-any-return]
        return cls(opener, ref.sop_instance_uid)


async def _read_all(source: Part10Source) -> bytes:
    return b"".join([bytes(chunk) async for chunk in source.open()])


def convert_data_set(data: bytes, transfer_syntax_uid: str) -> bytes:
    """The data set of a Part 10 object rewritten in an uncompressed ``transfer_syntax_uid``
    (CPU-heavy: run it in a worker process, DESIGN rule 4)."""
    from hounsfield.imaging.transcode import transcode

    converted = transcode(data, transfer_syntax_uid)
    return converted[parse_file_meta(converted).data_set_offset:]


def choose_context(assoc: Association, sop_class_uid: str, transfer_syntax_uid: str
                   ) -> tuple[AcceptedContext | None, bool]:
    """(context, needs conversion): the stored syntax if accepted, else an uncompressed one."""
    ctx = assoc.find_context(sop_class_uid, (transfer_syntax_uid,))
    if ctx is not None:
        return ctx, False
    ctx = assoc.find_context(sop_class_uid, UNCOMPRESSED)
    return ctx, ctx is not None


Runner = Callable[..., Awaitable[Any]]


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def store_part10(assoc: Association, source: Part10Source, *,
                       timeout: float | None = None, priority: int = D.PRIORITY_MEDIUM,
                       move_originator: tuple[str, int] | None = None,
                       run: Runner | None = None) -> StoreResult:
    """Send one Part 10 object with C-STORE and wait for the response. ``run`` executes
    a conversion (``RenderPool.run`` of the imaging pool; default: a thread)."""
    stream = source.open()
    head = b""
    meta = None
    try:
        async for chunk in stream:
            head += chunk
            try:
                meta = parse_file_meta(head)
                break
            except NeedMoreData:
                continue
        if meta is None:
            parse_file_meta(head)  # raises the precise reason
    except (ValueError, NeedMoreData) as exc:
        await _close(stream)
        return StoreResult(D.CANNOT_UNDERSTAND, reason=f"{source.description}: not a DICOM "
                                                        f"Part 10 object ({exc or 'truncated'})")
    assert meta is not None
    result = StoreResult(D.CANNOT_UNDERSTAND, meta.sop_class_uid, meta.sop_instance_uid)
    ctx, convert = choose_context(assoc, meta.sop_class_uid, meta.transfer_syntax_uid)
    if ctx is None:
        await _close(stream)
        result.reason = (f"{meta.sop_instance_uid}: {assoc.peer_ae_title} accepted no "
                         f"presentation context for SOP class {meta.sop_class_uid} with "
                         f"transfer syntax {meta.transfer_syntax_uid} or an uncompressed one")
        return result
    message_id = assoc.next_message_id()
    command = D.Command(D.C_STORE_RQ, message_id=message_id,
                        affected_sop_class_uid=meta.sop_class_uid,
                        affected_sop_instance_uid=meta.sop_instance_uid, priority=priority,
                        command_data_set_type=D.DATA_SET_PRESENT)
    if move_originator is not None:
        command.move_originator_application_entity_title = move_originator[0]
        command.move_originator_message_id = move_originator[1]
    if assoc.dul is None:
        raise ConnectionError("Not connected")
    queue = assoc.expect_responses(message_id)
    try:
        if convert:
            await _close(stream)
            try:
                data = await (run or _in_thread)(convert_data_set, await _read_all(source),
                                                 ctx.transfer_syntax)
            except Exception as exc:
                result.reason = (f"{meta.sop_instance_uid}: the peer does not accept transfer "
                                 f"syntax {meta.transfer_syntax_uid} and it cannot be "
                                 f"decompressed here: {exc}")
                return result
            await assoc.dul.send_message(ctx.context_id, D.encode_command(command), data)
        else:
            async def data_set() -> AsyncIterator[bytes | memoryview]:
                yield memoryview(head)[meta.data_set_offset:]
                async for chunk in stream:
                    yield chunk
            await assoc.dul.send_message_stream(ctx.context_id, D.encode_command(command),
                                                data_set())
        response = await assoc.next_response(queue, timeout)
    finally:
        assoc.forget_responses(message_id)
        await _close(stream)
    result.status = response.command.status if response.command.status is not None \
        else D.CANNOT_UNDERSTAND
    if result.category == "failure":
        result.reason = response.command.error_comment or f"status 0x{result.status:04X}"
    return result


async def _close(stream: AsyncIterator[bytes]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # closing a half-read source must not hide the real outcome
            log.debug("Closing a Part 10 source failed", exc_info=True)
