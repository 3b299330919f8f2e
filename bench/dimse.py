"""DIMSE benchmark: Hounsfield's DICOM server side by side with Orthanc (when installed),
DCMTK tools as the client.

    python bench/dimse.py [--corpus bench/corpus/s1000-ct300] [--runs 3] [--no-orthanc]

Workload (issue 3): a 300-slice 512x512 CT on one association; 1,000 small instances on
one association; the same 1,000 over 4 parallel associations; C-FIND at study level by
patient-name prefix; C-GET of the CT study. Each ingest case starts from an empty archive.
Prints each figure for both servers and their ratio. The corpus is written by
``bench/corpus.py`` when missing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
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
from pathlib import Path

ENV = dict(os.environ, TCP_NODELAY="1")
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LAST_OUTPUT = [""]


def tool(*args: str, check: bool = True) -> float:
    """Run a DCMTK tool; seconds it took."""
    started = time.perf_counter()
    proc = subprocess.run(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - started
    LAST_OUTPUT[0] = proc.stdout.decode(errors="replace")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{LAST_OUTPUT[0][-2000:]}")
    return elapsed


def wait_for_echo(port: int, aec: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["echoscu", "-aec", aec, "127.0.0.1", str(port)], env=ENV,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{aec} on port {port} did not answer C-ECHO")


class Hounsfield:
    name = "Hounsfield"
    aet = "HOUNSFIELD"
    settings: list[str] = []  # NAME=VALUE overrides (--set)

    def __enter__(self) -> "Hounsfield":
        self.dir = tempfile.mkdtemp(prefix="bench-hounsfield-")
        self.port = free_port()
        env = dict(ENV)
        for item in self.settings:
            name, _, value = item.partition("=")
            env["HOUNSFIELD_" + name.replace(".", "_").upper()] = value
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", self.dir,
                                      str(self.port)], env=env)
        wait_for_echo(self.port, self.aet)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Orthanc:
    name = "Orthanc"
    aet = "ORTHANC"

    def __enter__(self) -> "Orthanc":
        self.dir = tempfile.mkdtemp(prefix="bench-orthanc-")
        self.port = free_port()
        modalities = {name.lower(): [name, "127.0.0.1", 104]  # port unused (no C-MOVE)
                      for name in ("FINDSCU", "GETSCU", "MOVESCU", "STORESCU")}
        config = {"Name": "bench", "StorageDirectory": f"{self.dir}/storage",
                  "IndexDirectory": f"{self.dir}/index", "DicomAet": self.aet,
                  "DicomPort": self.port, "HttpPort": free_port(), "Plugins": [],
                  "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
                  "DicomModalities": modalities, "DicomCheckCalledAet": False,
                  "UnknownSopClassAccepted": True}
        path = Path(self.dir) / "orthanc.json"
        path.write_text(json.dumps(config))
        self.proc = subprocess.Popen([shutil.which("Orthanc") or "Orthanc", str(path)],
                                     env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for_echo(self.port, self.aet)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def patient_prefix(small: Path, want: int = 20) -> tuple[str, int]:
    """A patient-name prefix matching about ``want`` studies of the corpus."""
    from pydicom import dcmread
    studies: dict[str, set[str]] = collections.defaultdict(set)
    for path in small.iterdir():
        ds = dcmread(path, stop_before_pixels=True, specific_tags=["PatientName",
                                                                   "StudyInstanceUID"])
        name = str(ds.PatientName)
        for n in (1, 2, 3):
            studies[name[:n]].add(ds.StudyInstanceUID)
    prefix = min(studies, key=lambda p: (abs(len(studies[p]) - want), -len(p)))
    return prefix, len(studies[prefix])


def store(server: object, folder: Path | list[Path]) -> float:
    files = [str(folder)] if isinstance(folder, Path) else [str(p) for p in folder]
    return tool("storescu", "-aet", "STORESCU", "-aec", server.aet,  # type: ignore[attr-defined]
                "+sd", "127.0.0.1", str(server.port), *files)  # type: ignore[attr-defined]


def store_parallel(server: object, folder: Path, n: int = 4) -> float:
    files = sorted(folder.iterdir())
    chunks = [files[i::n] for i in range(n)]
    started = time.perf_counter()
    procs = [subprocess.Popen(["storescu", "-aet", "STORESCU", "-aec",
                               server.aet, "127.0.0.1",  # type: ignore[attr-defined]
                               str(server.port), *map(str, chunk)],  # type: ignore[attr-defined]
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for chunk in chunks]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise RuntimeError(f"parallel storescu failed: {codes}")
    return time.perf_counter() - started


def run_system(cls: type, corpus: Path, prefix: str, runs: int) -> dict[str, list[float]]:
    from pydicom import dcmread
    ct_study = dcmread(next((corpus / "ct").iterdir()), stop_before_pixels=True).StudyInstanceUID
    out: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(runs):
        with cls() as server:
            out["CT 300 x 512^2, 1 assoc (s)"].append(store(server, corpus / "ct"))
            out["1,000 small, 1 assoc (s)"].append(store(server, corpus / "small"))
            finds = [tool("findscu", "-S", "-aet", "FINDSCU", "-aec", server.aet,
                          "-k", "QueryRetrieveLevel=STUDY", "-k", f"PatientName={prefix}*",
                          "-k", "StudyInstanceUID", "127.0.0.1", str(server.port))
                     for _ in range(10)]
            out["C-FIND study by name prefix (ms)"].append(1000 * statistics.median(finds))
            with tempfile.TemporaryDirectory() as received:
                out["C-GET CT study (s)"].append(tool(
                    "getscu", "-S", "-aet", "GETSCU", "-aec", server.aet, "-od", received,
                    "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={ct_study}",
                    "127.0.0.1", str(server.port)))
                got = len(os.listdir(received))
                if got != 300:
                    raise RuntimeError(f"{cls.name}: C-GET returned {got} of 300 instances:\n"
                                       f"{LAST_OUTPUT[0][-3000:]}")
        with cls() as server:
            out["1,000 small, 4 assocs (s)"].append(store_parallel(server, corpus / "small"))
    return out


def serve(data_dir: str, port: int) -> None:
    """The Hounsfield side: archive + DICOM server only, default settings."""
    from hounsfield.archive import Archive
    from hounsfield.config import load_settings
    from hounsfield.dicom import DicomServer

    async def main() -> None:
        settings = load_settings(data_dir=data_dir, dicom__port=port, dicom__host="127.0.0.1",
                                 log_level="warning")
        archive = await Archive.open(settings)
        server = DicomServer(settings, archive)
        await server.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
        await server.stop()
        await archive.close()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus" / "s1000-ct300")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-orthanc", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a Hounsfield setting for its server, e.g. storage.fsync=false")
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    Hounsfield.settings = list(args.set)
    if not shutil.which("storescu"):
        print("DCMTK (storescu, findscu, getscu) is needed", file=sys.stderr)
        return 2
    if not (args.corpus / "small").is_dir():
        subprocess.run([sys.executable, str(HERE / "corpus.py"), str(args.corpus), "--small",
                        "1000", "--ct", "300"], check=True)
    prefix, matches = patient_prefix(args.corpus / "small")
    print(f"C-FIND: PatientName={prefix}* matches {matches} studies")
    systems: list[type] = [Hounsfield]
    if not args.no_orthanc and shutil.which("Orthanc"):
        systems.append(Orthanc)
    results = {cls.name: run_system(cls, args.corpus, prefix, args.runs) for cls in systems}
    keys = list(results["Hounsfield"])
    header = f"{'case':<36}" + "".join(f"{cls.name:>22}" for cls in systems)
    print(header + (f"{'Orthanc/Hounsfield':>22}" if len(systems) > 1 else ""))
    for key in keys:
        row = f"{key:<36}"
        for cls in systems:
            values = results[cls.name][key]
            row += f"{min(values):>13.3f}-{max(values):<8.3f}"
        if len(systems) > 1:
            ratio = statistics.median(results["Orthanc"][key]) / statistics.median(
                results["Hounsfield"][key])
            row += f"{ratio:>21.2f}x"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
