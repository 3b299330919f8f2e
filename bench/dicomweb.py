"""DICOMweb benchmark: Hounsfield side by side with Orthanc + its DICOMweb plugin (when
installed), the same HTTP requests against the same data.

    .venv/bin/python bench/dicomweb.py [--corpus bench/corpus/s1000-ct300] [--runs 15]
                                       [--no-orthanc] [--only NAME]

Data: the benchmark corpus (``bench/corpus.py``: a 300-slice 512x512 CT and 1,000 small
instances in 400 studies; written when missing), stored in each server by STOW-RS.
Requests (issue 4): series metadata of the CT; retrieval of the CT study (all bytes read);
one raw frame; one rendered JPEG; STOW-RS of 100 CT instances (new UIDs each run); QIDO-RS
studies by patient-name prefix; all studies. Each figure is the median of ``--runs``
(STOW and study retrieval: of ``--runs // 3``, at least 3) after one warm-up request.
Both servers get the same client (one keep-alive ``requests`` session, default headers).

    .venv/bin/python bench/dicomweb.py --fill 1000000 [--backend sqlite|postgres|both]

fills an index with ``bench/fill_index.py`` (rows only, no blobs) and times QIDO-RS study
searches by patient-name prefix over HTTP against it (median and p95 of 300, after 300
warm-up searches with other prefixes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests

ENV = dict(os.environ, TCP_NODELAY="1")
HERE = Path(__file__).resolve().parent
DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FRAME = 'multipart/related; type="application/octet-stream"'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


class Hounsfield:
    name = "Hounsfield"

    def __init__(self, data_dir: str | None = None, index_url: str = "") -> None:
        self.given_dir, self.index_url = data_dir, index_url

    def __enter__(self) -> "Hounsfield":
        self.dir = self.given_dir or tempfile.mkdtemp(prefix="bench-hounsfield-")
        port = free_port()
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", self.dir, str(port),
                                      self.index_url], env=ENV)
        self.url = f"http://127.0.0.1:{port}/dicom-web"
        wait_http(f"http://127.0.0.1:{port}/api/health")
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.given_dir is None:
            shutil.rmtree(self.dir, ignore_errors=True)


class Orthanc:
    name = "Orthanc"

    def __enter__(self) -> "Orthanc":
        self.dir = tempfile.mkdtemp(prefix="bench-orthanc-")
        port = free_port()
        config = {"Name": "bench", "StorageDirectory": f"{self.dir}/storage",
                  "IndexDirectory": f"{self.dir}/index", "DicomPort": free_port(),
                  "HttpPort": port, "Plugins": ["/usr/share/orthanc/plugins"],
                  "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
                  "TcpNoDelay": True, "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
        path = Path(self.dir) / "orthanc.json"
        path.write_text(json.dumps(config))
        self.proc = subprocess.Popen([shutil.which("Orthanc") or "Orthanc", str(path)],
                                     env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}/dicom-web"
        wait_http(f"http://127.0.0.1:{port}/system")
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def multipart(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
                    + p + b"\r\n" for p in parts) + b"--" + boundary.encode() + b"--\r\n"
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def stow(session: requests.Session, url: str, parts: list[bytes]) -> float:
    body, content_type = multipart(parts)
    started = time.perf_counter()
    response = session.post(f"{url}/studies", data=body, headers={"Content-Type": content_type})
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"STOW-RS answered {response.status_code}: {response.text[:300]}")
    return elapsed


def load(session: requests.Session, url: str, files: list[Path], batch: int = 50) -> None:
    for start in range(0, len(files), batch):
        stow(session, url, [p.read_bytes() for p in files[start:start + batch]])


def renamed_ct(files: list[Path]) -> list[bytes]:
    """The files as a new study (new Study, Series and SOP Instance UIDs)."""
    import io

    from pydicom import dcmread
    from pydicom.uid import generate_uid

    study, series = generate_uid(), generate_uid()
    out = []
    for path in files:
        ds = dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(buffer.getvalue())
    return out


def timed(session: requests.Session, url: str, headers: dict[str, str], runs: int,
          check: Callable[[requests.Response, bytes], None] | None = None) -> float:
    """Median seconds of GET ``url`` with the whole body read."""
    times = []
    for n in range(runs + 1):
        started = time.perf_counter()
        response = session.get(url, headers=headers, stream=True)
        body = b"".join(response.iter_content(1 << 20))
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {body[:300]!r}")
        if n == 0 and check is not None:
            check(response, body)
        if n:
            times.append(elapsed)
    return statistics.median(times)


def run_system(cls: type, corpus: Path, prefix: str, runs: int,
               only: str | None) -> dict[str, float]:
    from pydicom import dcmread

    ct_files = sorted((corpus / "ct").iterdir())
    small_files = sorted((corpus / "small").iterdir())
    head = dcmread(ct_files[150], stop_before_pixels=True)
    study, series, sop = head.StudyInstanceUID, head.SeriesInstanceUID, head.SOPInstanceUID
    slow_runs = max(3, runs // 3)
    out: dict[str, float] = {}
    with cls() as server, requests.Session() as session:
        load(session, server.url, ct_files + small_files)
        base = server.url
        instance = f"{base}/studies/{study}/series/{series}/instances/{sop}"

        def want(name: str) -> bool:
            return only is None or only in name

        if want("series metadata"):
            out["series metadata, 300 CT (ms)"] = 1000 * timed(
                session, f"{base}/studies/{study}/series/{series}/metadata",
                {"Accept": "application/dicom+json"}, runs,
                lambda r, b: _expect(len(json.loads(b)) == 300, "300 metadata items"))
        if want("study retrieval"):
            out["study retrieval, 157 MB (s)"] = timed(
                session, f"{base}/studies/{study}", {"Accept": DICOM_ANY}, slow_runs,
                lambda r, b: _expect(len(b) > 150e6, "the whole study"))
        if want("raw frame"):
            out["one raw frame (ms)"] = 1000 * timed(
                session, f"{instance}/frames/1", {"Accept": FRAME}, runs,
                lambda r, b: _expect(len(b) > 512 * 512 * 2, "a 512x512 frame"))
        if want("rendered"):
            out["one rendered JPEG (ms)"] = 1000 * timed(
                session, f"{instance}/rendered", {"Accept": "image/jpeg"}, runs,
                lambda r, b: _expect(b[:2] == b"\xff\xd8", "a JPEG"))
        if want("QIDO by name"):
            out[f"QIDO studies PatientName={prefix}* (ms)"] = 1000 * timed(
                session, f"{base}/studies?PatientName={prefix}*",
                {"Accept": "application/dicom+json"}, runs,
                lambda r, b: _expect(len(json.loads(b)) > 0, "matches"))
        if want("all studies"):
            out["QIDO all 401 studies (ms)"] = 1000 * timed(
                session, f"{base}/studies", {"Accept": "application/dicom+json"}, runs,
                lambda r, b: _expect(len(json.loads(b)) == 401, "401 studies"))
        if want("STOW"):
            times = []
            for _ in range(slow_runs):
                parts = renamed_ct(ct_files[:100])
                times.append(stow(session, base, parts))
            out["STOW 100 CT instances (s)"] = statistics.median(times)
    return out


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"The answer does not hold {what}")


def patient_prefix(small: Path, want: int = 20) -> str:
    """A patient-name prefix matching about ``want`` studies of the corpus."""
    from collections import defaultdict

    from pydicom import dcmread

    studies: dict[str, set[str]] = defaultdict(set)
    for path in small.iterdir():
        ds = dcmread(path, stop_before_pixels=True,
                     specific_tags=["PatientName", "StudyInstanceUID"])
        name = str(ds.PatientName)
        for n in (1, 2, 3):
            studies[name[:n]].add(ds.StudyInstanceUID)
    return min(studies, key=lambda p: (abs(len(studies[p]) - want), -len(p)))


def serve(data_dir: str, port: int, index_url: str = "") -> None:
    """The Hounsfield side: the HTTP app as ``hounsfield serve`` runs it, DICOM off."""
    from hounsfield.app import serve as run
    from hounsfield.config import load_settings

    settings = load_settings(data_dir=data_dir, http__port=port, http__host="127.0.0.1",
                             dicom__enabled=False, log_level="warning", index__url=index_url,
                             auth__enabled=False)  # as Orthanc runs here: no login
    asyncio.run(run(settings))


def run_fill(backend: str, n: int, runs: int = 300) -> None:
    """QIDO-RS study search by patient-name prefix over an index of ``n`` instances."""
    import random

    sys.path.insert(0, str(HERE))
    import fill_index
    from hounsfield.archive import ArchiveCore
    from hounsfield.config import load_settings

    data = tempfile.mkdtemp(prefix="bench-fill-")
    index_url, dbname = "", None
    if backend == "postgres":
        import psycopg

        dbname = f"hounsfield_qido_{uuid.uuid4().hex[:8]}"
        admin = fill_index.PG.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        index_url = fill_index.PG.rsplit("/", 1)[0] + "/" + dbname
    try:
        core = ArchiveCore(load_settings(environ={}, data_dir=data, index__url=index_url))
        started = time.perf_counter()
        names = fill_index.fill(core, n)
        filled = time.perf_counter() - started
        core.close()
        rng, warm = random.Random(1), random.Random(2)
        with Hounsfield(data, index_url) as server, requests.Session() as session:
            # Warm-up with other prefixes: a long-running server's index connections have
            # their page caches filled (SQLite keeps one per pooled connection).
            for _ in range(300):
                session.get(f"{server.url}/studies",
                            params={"PatientName": warm.choice(names)[:3] + "*",
                                    "limit": "100"})
            times, hits = [], 0
            for _ in range(runs):
                prefix = rng.choice(names)[:3] + "*"
                t = time.perf_counter()
                response = session.get(f"{server.url}/studies",
                                       params={"PatientName": prefix, "limit": "100"})
                if response.status_code != 200:
                    raise RuntimeError(f"QIDO-RS answered {response.status_code}: "
                                       f"{response.text[:300]}")
                hits += len(response.json())
                times.append(1000 * (time.perf_counter() - t))
        times.sort()
        print(f"{backend:<9} {n:,} instances (filled in {filled:.0f} s): QIDO-RS studies by "
              f"patient-name prefix, limit 100: median {statistics.median(times):.1f} ms, "
              f"p95 {times[int(len(times) * 0.95) - 1]:.1f} ms, {hits / runs:.0f} results "
              "on average")
    finally:
        shutil.rmtree(data, ignore_errors=True)
        if dbname:
            import psycopg

            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus" / "s1000-ct300")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-orthanc", action="store_true")
    parser.add_argument("--only", help="run only the figures whose name contains this")
    parser.add_argument("--fill", type=int, metavar="INSTANCES",
                        help="time QIDO-RS over an index filled with this many instances")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--serve", nargs=3, metavar=("DATA_DIR", "PORT", "INDEX_URL"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return 0
    if args.fill:
        for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
            run_fill(backend, args.fill)
        return 0
    if not (args.corpus / "ct").is_dir():
        subprocess.run([sys.executable, str(HERE / "corpus.py"), str(args.corpus),
                        "--small", "1000", "--ct", "300"], check=True)
    prefix = patient_prefix(args.corpus / "small")
    systems: list[type] = [Hounsfield]
    if not args.no_orthanc and shutil.which("Orthanc") and \
            Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so").exists():
        systems.append(Orthanc)
    results = {cls.name: run_system(cls, args.corpus, prefix, args.runs, args.only)
               for cls in systems}
    names = list(results["Hounsfield"])
    width = max(len(n) for n in names) + 2
    header = f"{'':{width}}" + "".join(f"{cls.name:>12}" for cls in systems)
    print(header + ("   Orthanc/Hounsfield" if len(systems) > 1 else ""))
    for name in names:
        line = f"{name:{width}}" + "".join(f"{results[c.name][name]:12.4g}" for c in systems)
        if len(systems) > 1:
            line += f"{results['Orthanc'][name] / results['Hounsfield'][name]:18.2f}x"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
