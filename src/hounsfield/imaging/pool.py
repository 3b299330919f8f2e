"""A process pool for decoding, rendering and transcoding, awaited from the asyncio loop.

DESIGN rule 4: the loop never runs CPU-heavy work. Workers come from a ``forkserver``
(a clean process that never held the server's sockets, threads or database
connections) with the imaging modules preloaded, so the first request pays no import.
Submitted functions must be picklable top-level functions taking paths or bytes, e.g.
``await pool.run(render, path, 0, media_type="image/png")``.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from hounsfield.errors import HounsfieldError

T = TypeVar("T")

_PRELOAD = ["hounsfield.imaging.render", "hounsfield.imaging.transcode",
            "hounsfield.imaging.frames"]


def _warm_up() -> None:
    """Import the imaging code and pydicom's pixel plugins before the first task."""
    import hounsfield.imaging.render  # noqa: F401
    import hounsfield.imaging.transcode as transcode

    transcode.encodable_transfer_syntaxes()
    from hounsfield.imaging.decode import decodable_transfer_syntaxes

    decodable_transfer_syntaxes()


class RenderPool:
    """Lazily started process pool; ``workers`` 0 means one per CPU."""

    def __init__(self, workers: int = 0) -> None:
        if workers < 0:
            raise ValueError(f'Argument "workers" must be 0 or more, not {workers}.')
        self.workers = workers or os.cpu_count() or 1
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _get_executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("The render pool is shut down")
            if self._executor is None:
                method = "forkserver" if "forkserver" in \
                    multiprocessing.get_all_start_methods() else "spawn"
                context = multiprocessing.get_context(method)
                if method == "forkserver":
                    context.set_forkserver_preload(_PRELOAD)
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=context, initializer=_warm_up)
            return self._executor

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in a worker process and return its result.

        Errors raised by ``fn`` (HounsfieldError and its subclasses included) arrive as
        raised. A worker that dies (a codec crashing on damaged data) fails only this
        call; the pool is rebuilt for the next one.
        """
        executor = self._get_executor()
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs) if kwargs else fn
        try:
            if kwargs:
                return await loop.run_in_executor(executor, call)
            return await loop.run_in_executor(executor, call, *args)
        except BrokenProcessPool as exc:
            self._discard(executor)
            raise HounsfieldError(
                f"An imaging worker process died while running {getattr(fn, '__name__', fn)}"
            ) from exc

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """Stop the workers after the tasks already running; later runs are refused."""
        with self._lock:
            executor, self._executor = self._executor, None
            self._closed = True
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def __aenter__(self) -> RenderPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
