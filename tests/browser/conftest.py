"""Browser tests: Chromium (Debian's, driven by Playwright) against a real `hounsfield serve`
with access control on, on small synthetic phantoms of known geometry.

One server per test process (``pytest -n 2 --dist loadfile`` gives each worker its own):
accounts and grants are made with the `hounsfield user` commands and the phantoms stored
with `hounsfield import`, as an operator would (the commands run in the test process). Every page a test opens records console
errors and uncaught exceptions; a test ends with ``tab.assert_clean()``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from hounsfield.demo import Patient, Study, ct_volume, mr_series, write
from hounsfield.web.pages import STATIC

REQUIRE_ALL = os.environ.get("HOUNSFIELD_TEST_REQUIRE_POSTGRES") == "1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--enable-unsafe-swiftshader"]
PASSWORD = "phantom-password-1"
NORTH, SOUTH = "North Clinic", "South Clinic"
# Account name -> roles. "north" is a viewer granted the studies of North Clinic only.
USERS = {"admin": ("admin",), "rad1": ("radiologist",), "rad2": ("radiologist",),
         "north": ("viewer",)}


@dataclass(frozen=True)
class Phantom:
    """A stored study of one series whose geometry the tests know."""

    study_uid: str
    series_uid: str
    slices: int
    rows: int  # and columns: the images are square
    pixel_spacing: float  # mm, the same along rows and columns
    folder: Path  # its Part 10 files, as imported


def _phantom_studies() -> dict[str, tuple[Patient, Study, Callable[..., Any], dict[str, Any]]]:
    """The archive's content: three CT studies of one patient (native, RLE, JPEG-LS) on
    three dates, a head MR of another, and a South Clinic CT that "north" may not see."""
    anna = Patient("Testa^Anna", "BT001", "19700101", "F")
    bernd = Patient("Muster^Bernd", "BT002", "19650505", "M")
    carla = Patient("Geheim^Carla", "BT003", "19800808", "F")

    def study(patient: Patient, number: int, date: str, description: str,
              institution: str = NORTH) -> Study:
        return Study.create(patient, date, description, seed=7, number=number,
                            study_time="093000", institution_name=institution,
                            referring_physician_name="Referrer^Rita")

    ct = {"slices": 64, "rows": 128, "columns": 128}
    return {
        "ct_native": (anna, study(anna, 1, "20240115", "CT chest native"), ct_volume,
                      {**ct, "transfer_syntax": ExplicitVRLittleEndian}),
        "ct_rle": (anna, study(anna, 2, "20240610", "CT chest RLE"), ct_volume,
                   {**ct, "transfer_syntax": RLELossless}),
        "ct_jpegls": (anna, study(anna, 3, "20250301", "CT chest JPEG-LS"), ct_volume,
                      {**ct, "transfer_syntax": JPEGLSLossless}),
        "mr": (bernd, study(bernd, 1, "20230520", "MR head"), mr_series,
               {"slices": 16, "rows": 128, "columns": 128}),
        "secret": (carla, study(carla, 1, "20220101", "CT chest south", SOUTH), ct_volume,
                   {"slices": 8, "rows": 64, "columns": 64}),
    }


def _write_phantoms(folder: Path) -> dict[str, Phantom]:
    made: dict[str, Phantom] = {}
    for name, (patient, study, generate, options) in _phantom_studies().items():
        first = None
        for ds in generate(patient, study, **options):
            write(ds, folder / name / f"{ds.InstanceNumber:04d}.dcm")
            first = first or ds
        assert first is not None
        made[name] = Phantom(
            study_uid=study.study_instance_uid, series_uid=first.SeriesInstanceUID,
            slices=options["slices"], rows=options["rows"],
            pixel_spacing=float(first.PixelSpacing[0]), folder=folder / name)
    return made


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running `hounsfield serve` and what it holds."""

    base_url: str
    data_dir: Path
    settings: dict[str, str]  # HOUNSFIELD_* variables of the server and its commands
    phantoms: dict[str, Phantom]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def cli(self, *args: str, stdin: str = "") -> str:
        """Run a `hounsfield` command against this archive; return its output. The command
        runs in this process (a new Python for each would cost a second apiece)."""
        from click.testing import CliRunner

        from hounsfield.cli import main

        result = CliRunner().invoke(main, list(args), input=stdin, env=self.settings)
        if result.exit_code:
            raise AssertionError(f"hounsfield {' '.join(args)} failed:\n{result.output}"
                                 ) from result.exception
        return result.output


def _require(condition: bool, why: str) -> None:
    """Skip when a browser-test prerequisite is missing, except on CI where it fails."""
    if not condition:
        if REQUIRE_ALL:
            pytest.fail(f"{why} (HOUNSFIELD_TEST_REQUIRE_POSTGRES=1: nothing may be skipped)")
        pytest.skip(why)


def start_server(tmp: Path, env_extra: dict[str, str] | None = None) -> Server:
    """Store the phantoms, make the accounts and start `hounsfield serve` on a free port."""
    port = free_port()
    data_dir = tmp / "data"
    settings = dict(HOUNSFIELD_DATA_DIR=str(data_dir),
                    HOUNSFIELD_HTTP_HOST="127.0.0.1", HOUNSFIELD_HTTP_PORT=str(port),
                    HOUNSFIELD_DICOM_HOST="127.0.0.1", HOUNSFIELD_DICOM_PORT="0",
                    HOUNSFIELD_DICOMWEB_RENDER_WORKERS="1", HOUNSFIELD_STORAGE_FSYNC="false",
                    HOUNSFIELD_LOG_LEVEL="warning", **(env_extra or {}))
    phantoms = _write_phantoms(tmp / "phantoms")
    server = Server(f"http://127.0.0.1:{port}", data_dir, settings, phantoms)
    server.cli("import", "--quiet", "--workers", "1", str(tmp / "phantoms"))
    for username, roles in USERS.items():
        server.cli("user", "add", username, *(a for r in roles for a in ("--role", r)),
                   "--password-stdin", stdin=PASSWORD + "\n")
    server.cli("user", "grant", "north", "--institution", NORTH)
    with open(tmp / "server.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "hounsfield.cli", "serve"],
                                   env={**os.environ, **settings}, stdout=log,
                                   stderr=subprocess.STDOUT)
    server.process = process
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server.base_url}/api/health", timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError("the server did not start:\n"
                                     + (tmp / "server.log").read_text(errors="replace"))
            time.sleep(0.2)
    except BaseException:
        process.kill()
        process.wait()
        raise


@contextlib.contextmanager
def running_server(tmp: Path, env_extra: dict[str, str] | None = None) -> Iterator[Server]:
    server = start_server(tmp, env_extra)
    assert server.process is not None
    try:
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="session")
def pages_built() -> None:
    """The built front end is needed; only a machine without npm may lack it."""
    if not (STATIC / "index.html").is_file():
        if shutil.which("npm") is None and not REQUIRE_ALL:
            pytest.skip("web pages are not built and npm is missing")
        pytest.fail("web pages are not built: run `make web`")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, pages_built: None) -> Iterator[Server]:
    """The server on SQLite, shared by the test modules of this process."""
    with running_server(tmp_path_factory.mktemp("browser")) as running:
        yield running


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory: pytest.TempPathFactory, pages_built: None,
                    postgres_url: str) -> Iterator[Server]:
    """A server of its own with the index in a new PostgreSQL database (the test run's
    database is shared with other tests of this process)."""
    import psycopg

    admin = postgres_url.replace("postgresql+psycopg", "postgresql")
    name = f"{admin.rsplit('/', 1)[1]}_browser"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with running_server(tmp_path_factory.mktemp("browser-pg"), {
                "HOUNSFIELD_INDEX_URL": f"{postgres_url.rsplit('/', 1)[0]}/{name}"}) as running:
            yield running
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def browser(pages_built: None) -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop running in this thread while
    # it lives, and the asyncio tests that follow in the same process need it gone.
    _require(Path(CHROMIUM).is_file(), f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "playwright is not installed (pip install -e '.[test]')")
        raise
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Tab:
    """A page of a browser context that records console errors and page errors."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.console_errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(
            f"{m.text} ({m.location.get('url', '')})"))
        page.on("pageerror", lambda e: self.console_errors.append(f"page error: {e}"))

    def open(self, path: str) -> Any:
        """Go to ``path`` and wait until the page has shown its first content."""
        self.page.goto(self.base_url + path)
        return self.wait_ready()

    def wait_ready(self) -> Any:
        self.wait_for("window.__hf !== undefined")
        self.page.evaluate("window.__hf.ready")
        return self.page

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll ``expression`` until it is truthy. (Playwright's wait_for_function compiles
        its argument in the page, which the pages' Content-Security-Policy forbids.)"""
        deadline = time.monotonic() + timeout
        while not (value := self.page.evaluate(expression)):
            assert time.monotonic() < deadline, (
                f"timed out waiting for {expression} on {self.page.url}; "
                f"console errors: {self.console_errors}")
            time.sleep(0.05)
        return value

    def hf(self, expression: str, arg: Any = None) -> Any:
        """Evaluate ``expression`` (JavaScript, may use ``hf`` and ``arg``)."""
        return self.page.evaluate(f"(arg) => {{ const hf = window.__hf; return {expression}; }}",
                                  arg)

    def next_frame(self) -> None:
        """Wait until the page has drawn a frame (its input events are handled by then)."""
        self.page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Press the left button at ``start``, move to ``end`` and let go (page coordinates)."""
        mouse = self.page.mouse
        mouse.move(*start)
        mouse.down()
        mouse.move(*end, steps=8)
        mouse.up()
        self.next_frame()

    def settled_annotations(self, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The viewer's annotations once saved and unchanged over a frame. (A measurement's
        figures are computed when it is next drawn, a frame or two after the mouse is let
        go, and saved after that.)"""
        deadline = time.monotonic() + timeout
        while True:
            self.page.evaluate("window.__hf.viewer.whenAnnotationsSaved()")
            before = self.page.evaluate("window.__hf.viewer.getAnnotations()")
            self.next_frame()
            after = self.page.evaluate("window.__hf.viewer.getAnnotations()")
            if (after == before and all(a["saved"] for a in after)) or time.monotonic() > deadline:
                return after

    def grey(self, selector: str) -> np.ndarray:
        """The element as shown on screen, as grey levels (rows x columns, 0..255)."""
        png = self.page.locator(selector).screenshot()
        return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)

    def assert_clean(self, expected: Callable[[str], bool] = lambda _: False) -> None:
        """No console error and no uncaught exception, other than ``expected`` ones."""
        unexpected = [e for e in self.console_errors if not expected(e)]
        assert unexpected == [], f"console errors: {unexpected}"


class Session:
    """A browser context logged in as one user (its cookies hold the session)."""

    def __init__(self, browser: Any, server: Server, username: str | None) -> None:
        self.server = server
        self.context = browser.new_context(base_url=server.base_url,
                                           viewport={"width": 1280, "height": 800})
        if username:
            r = self.context.request.post("/api/auth/login",
                                          data={"username": username, "password": PASSWORD})
            assert r.ok, r.text()

    def tab(self) -> Tab:
        return Tab(self.context.new_page(), self.server.base_url)

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="session")
def password() -> str:
    """Every account's password."""
    return PASSWORD


@pytest.fixture(scope="module")
def login(browser: Any, server: Server) -> Iterator[Callable[[str | None], Session]]:
    """``login(username)``: a browser context of that user, made once per module."""
    sessions: dict[str | None, Session] = {}

    def get(username: str | None) -> Session:
        if username not in sessions:
            sessions[username] = Session(browser, server, username)
        return sessions[username]

    yield get
    for session in sessions.values():
        session.close()


@pytest.fixture
def tab(login: Callable[[str | None], Session]) -> Iterator[Tab]:
    """A new page of rad1's context."""
    opened = login("rad1").tab()
    try:
        yield opened
    finally:
        opened.page.close()
