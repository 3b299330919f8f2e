"""The render pool runs imaging work in other processes, awaited from the loop."""

from __future__ import annotations

import os

import numpy as np
import pytest

from imaging_synthetic import build_image
from hounsfield.errors import HounsfieldError, NotFound
from hounsfield.imaging.frames import extract_frames
from hounsfield.imaging.pool import RenderPool
from hounsfield.imaging.render import render


async def test_render_in_a_worker_process_gives_the_same_bytes(write_file):
    pixels = np.kron(np.arange(16, dtype=np.int16).reshape(4, 4) * 100,
                     np.ones((8, 8), np.int16))
    path = write_file(build_image(pixels, WindowCenter=700, WindowWidth=1000))
    expected = render(path, media_type="image/png", viewport=(16, 16))
    async with RenderPool(workers=1) as pool:
        assert await pool.run(os.getpid) != os.getpid()
        result = await pool.run(render, str(path), media_type="image/png",
                                viewport=(16, 16))
        frames = await pool.run(extract_frames, path.read_bytes(), [1])
    assert result == expected
    assert frames[0].data == pixels.tobytes()


async def test_errors_arrive_as_raised(write_file):
    path = write_file(build_image(np.zeros((8, 8), np.uint8)))
    async with RenderPool(workers=1) as pool:
        with pytest.raises(NotFound, match="Frame 3 does not exist") as caught:
            await pool.run(render, str(path), 2)
    assert caught.value.http_status == 404


async def test_a_dead_worker_fails_one_call_and_the_pool_recovers(write_file):
    path = write_file(build_image(np.zeros((8, 8), np.uint8)))
    async with RenderPool(workers=1) as pool:
        with pytest.raises(HounsfieldError, match="worker process died"):
            await pool.run(os._exit, 3)
        assert (await pool.run(render, str(path))).startswith(b"\xff\xd8")


async def test_a_closed_pool_refuses_work():
    pool = RenderPool(workers=1)
    assert await pool.run(abs, -2) == 2
    await pool.close()
    with pytest.raises(RuntimeError, match="shut down"):
        await pool.run(abs, -2)


def test_workers_zero_means_one_per_cpu():
    assert RenderPool(0).workers == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match='"workers"'):
        RenderPool(-1)
