"""Viewer benchmark: how long the web viewer takes to show a 300-slice CT in Chromium.

    .venv/bin/python bench/viewer.py [--corpus bench/corpus/ct300] [--runs 5]
                                     [--width 1280 --height 800]

Data: the 300-slice 512x512 chest CT of ``bench/corpus.py`` (written to CORPUS/ct when
missing), imported with `hounsfield import` into a temporary archive served by
`hounsfield serve` on loopback with access control on, as deployed. Each run is a new
browser context (empty cache, new login through POST /api/auth/login) that opens
``/viewer?study=UID`` twice: cold, then warm (a new tab, the viewer code now in the
browser's cache as on a workstation's second study). The viewer's own stamps are read from
``window.__hf.viewer.timings`` (milliseconds since the navigation started): viewerStart
(the viewer code has loaded), metadata (the first series' metadata is in), firstImage (the
first image is drawn), allLoaded (every image of the series is decoded and cached).
Chromium is Debian's (/usr/bin/chromium), headless with software WebGL. Prints each run
and the medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pydicom

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--enable-unsafe-swiftshader"]
STAMPS = ("viewerStart", "metadata", "firstImage", "allLoaded")
USER, PASSWORD = "bench", "bench-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hounsfield(env: dict[str, str], *args: str, stdin: str = "") -> None:
    subprocess.run([sys.executable, "-m", "hounsfield.cli", *args], env=env, check=True,
                   input=stdin.encode(), stdout=subprocess.DEVNULL)


def corpus_ct(corpus: Path, slices: int) -> Path:
    """The CT folder of the corpus, written by bench/corpus.py when missing."""
    ct = corpus / "ct"
    if len(list(ct.glob("*.dcm"))) != slices:
        subprocess.run([sys.executable, str(HERE / "corpus.py"), str(corpus), "--small", "0",
                        "--ct", str(slices)], check=True)
    return ct


def serve(ct: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Import the CT, add the account and start the server; return it and its URL."""
    port = free_port()
    env = dict(os.environ, HOUNSFIELD_DATA_DIR=str(data_dir), HOUNSFIELD_HTTP_HOST="127.0.0.1",
               HOUNSFIELD_HTTP_PORT=str(port), HOUNSFIELD_DICOM_ENABLED="false",
               HOUNSFIELD_LOG_LEVEL="warning", TCP_NODELAY="1")
    hounsfield(env, "import", "--quiet", str(ct))
    hounsfield(env, "user", "add", USER, "--role", "radiologist", "--password-stdin",
               stdin=PASSWORD + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "hounsfield.cli", "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def open_viewer(page, url: str, study_uid: str, slices: int) -> dict:
    """Navigate to the viewer; return its timings (ms) once the whole series is loaded."""
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/viewer?study={study_uid}")
    deadline = time.monotonic() + 120
    while not page.evaluate("Boolean(window.__hf?.viewer?.timings?.allLoaded)"):
        if time.monotonic() > deadline or errors:
            raise SystemExit(f"the viewer did not load the series: {errors}")
        time.sleep(0.05)
    shown = page.evaluate("window.__hf.viewer.getImageCount()")
    if shown != slices or errors:
        raise SystemExit(f"the viewer shows {shown} images (expected {slices}): {errors}")
    return dict(page.evaluate("window.__hf.viewer.timings"))


def one_run(browser, url: str, study_uid: str, slices: int,
            size: tuple[int, int]) -> tuple[dict, dict]:
    """A new browser context (empty cache, a new login) opens the viewer twice: cold, then
    warm (the viewer code in the browser's cache, as on a workstation's second study)."""
    context = browser.new_context(base_url=url, viewport={"width": size[0], "height": size[1]})
    try:
        login = context.request.post("/api/auth/login",
                                     data={"username": USER, "password": PASSWORD})
        if not login.ok:
            raise SystemExit(f"login failed: {login.status} {login.text()}")
        cold = open_viewer(context.new_page(), url, study_uid, slices)
        warm = open_viewer(context.new_page(), url, study_uid, slices)
        return cold, warm
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus" / "ct300")
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    ct = corpus_ct(args.corpus, args.slices)
    study_uid = pydicom.dcmread(next(ct.glob("*.dcm")), stop_before_pixels=True).StudyInstanceUID
    megabytes = sum(p.stat().st_size for p in ct.glob("*.dcm")) / 1e6
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp:
        proc, url = serve(ct, Path(tmp) / "data")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                     args=CHROMIUM_ARGS)
                print(f"Chromium {browser.version}, {args.width}x{args.height}, "
                      f"{args.slices} slices 512x512 ({megabytes:.1f} MB)")
                runs: dict[str, list[dict]] = {"cold": [], "warm": []}
                for n in range(args.runs):
                    cold, warm = one_run(browser, url, study_uid, args.slices,
                                         (args.width, args.height))
                    for kind, timings in (("cold", cold), ("warm", warm)):
                        runs[kind].append(timings)
                        print(f"run {n + 1} {kind}: " + ", ".join(
                            f"{k} {timings[k]} ms" for k in STAMPS))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    for kind, timed in runs.items():
        print(f"median of {len(timed)} {kind} runs (ms since navigation start): " + ", ".join(
            f"{k} {statistics.median(r[k] for r in timed):.0f}" for k in STAMPS))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
