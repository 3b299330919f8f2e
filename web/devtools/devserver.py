"""Serve the built front end with a synthetic DICOMweb study, for checking the UI by hand.

Not part of the product and not a stand-in for the real server: it answers only the
requests the front end makes (QIDO-RS studies/series, WADO-RS metadata and frames) for
a few generated phantoms, so the pages can be looked at before a server runs.

    .venv/bin/python web/devtools/devserver.py [--port 8765] [--static src/hounsfield/web/static]
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import re
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, RLELossless, generate_uid

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")


@dataclass
class Instance:
    ds: Dataset
    frames: list[bytes]
    transfer_syntax_uid: str


def make_series(study: Dataset, number: int, description: str, slices: int, size: int, compress: bool) -> list[Instance]:
    """An axial CT phantom: a water ellipse with a bone disc and a lung-like hole (HU)."""
    series_uid = generate_uid()
    yy, xx = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    instances = []
    for k in range(slices):
        hu = np.full((size, size), -1000, dtype=np.int16)
        body = ((xx - c) / (0.45 * size)) ** 2 + ((yy - c) / (0.35 * size)) ** 2 <= 1
        hu[body] = 40
        z_frac = k / max(1, slices - 1)
        r_bone = 0.08 * size * (0.6 + 0.4 * np.sin(np.pi * z_frac))
        hu[(xx - c - 0.2 * size) ** 2 + (yy - c) ** 2 <= r_bone**2] = 700
        hu[(xx - c + 0.2 * size) ** 2 + (yy - c) ** 2 <= (0.1 * size) ** 2] = -800
        ds = Dataset()
        for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                   "StudyDate", "StudyTime", "AccessionNumber", "StudyDescription",
                   "ReferringPhysicianName", "StudyID"):
            setattr(ds, kw, getattr(study, kw))
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = series_uid
        ds.Modality = "CT"
        ds.SeriesNumber = number
        ds.SeriesDescription = description
        ds.InstanceNumber = k + 1
        ds.FrameOfReferenceUID = study.FrameOfReferenceUID
        ds.ImagePositionPatient = [-(size / 2), -(size / 2), float(-2.5 * k)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = 2.5
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = size
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        ds.WindowCenter = 40
        ds.WindowWidth = 400
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = hu.tobytes()
        ts = ExplicitVRLittleEndian
        frame = hu.tobytes()
        if compress:
            ds.compress(RLELossless)
            ts = RLELossless
            frame = pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1).__next__()
        meta = Dataset()
        for elem in ds:
            if elem.keyword != "PixelData":
                meta.add(elem)
        instances.append(Instance(meta, [frame], str(ts)))
    return instances


def make_studies() -> dict[str, dict[str, list[Instance]]]:
    studies: dict[str, dict[str, list[Instance]]] = {}
    for i, (name, desc) in enumerate([
        ("Phantom^Water", "CT phantom"),
        ('<img src=x onerror="window.__xss=1">^Markup', "<b>not bold</b>"),
    ]):
        st = Dataset()
        st.PatientName = name
        st.PatientID = f"PH{i + 1:03d}"
        st.PatientBirthDate = "19700101"
        st.PatientSex = "O"
        st.StudyInstanceUID = generate_uid()
        st.StudyDate = f"2026110{i + 1}"
        st.StudyTime = "101500"
        st.AccessionNumber = f"ACC{i + 1}"
        st.StudyDescription = desc
        st.ReferringPhysicianName = "Referrer^Rita"
        st.StudyID = str(i + 1)
        st.FrameOfReferenceUID = generate_uid()
        series = {}
        for number, sdesc, n, size, compress in [(1, "Axial uncompressed", 40, 128, False), (2, "Axial RLE", 20, 96, True)]:
            inst = make_series(st, number, sdesc, n, size, compress)
            series[inst[0].ds.SeriesInstanceUID] = inst
        studies[st.StudyInstanceUID] = series
    return studies


def to_json(ds: Dataset) -> dict:
    return ds.to_json_dict(bulk_data_threshold=1 << 30)


class Handler(BaseHTTPRequestHandler):
    static: Path
    studies: dict[str, dict[str, list[Instance]]]

    def log_message(self, fmt: str, *args: object) -> None:  # quiet
        pass

    def send_json(self, body: object, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        path = unquote(url.path)
        if path.startswith("/dicom-web/"):
            return self.dicomweb(path[len("/dicom-web"):], parse_qs(url.query))
        file = (self.static / path.lstrip("/")).resolve()
        if not str(file).startswith(str(self.static.resolve())) or not file.is_file():
            file = self.static / "index.html"  # SPA fallback for /viewer etc.
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def dicomweb(self, path: str, query: dict[str, list[str]]) -> None:
        if path == "/studies":
            out = []
            name = (query.get("PatientName") or [""])[0].rstrip("*").lower()
            uid = (query.get("StudyInstanceUID") or [""])[0]
            for st_uid, series in self.studies.items():
                first = next(iter(series.values()))[0].ds
                if name and not str(first.PatientName).lower().startswith(name):
                    continue
                if uid and uid != st_uid:
                    continue
                d = Dataset()
                for kw in ("StudyDate", "StudyTime", "AccessionNumber", "ReferringPhysicianName", "PatientName",
                           "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID", "StudyDescription"):
                    setattr(d, kw, getattr(first, kw))
                d.ModalitiesInStudy = ["CT"]
                d.NumberOfStudyRelatedSeries = len(series)
                d.NumberOfStudyRelatedInstances = sum(len(v) for v in series.values())
                out.append(to_json(d))
            return self.send_json(out)
        m = re.fullmatch(r"/studies/([\d.]+)/series", path)
        if m:
            series = self.studies.get(m[1])
            if series is None:
                return self.send_json([], 404)
            out = []
            for se_uid, inst in series.items():
                d = Dataset()
                d.Modality = "CT"
                d.SeriesInstanceUID = se_uid
                d.SeriesNumber = inst[0].ds.SeriesNumber
                d.SeriesDescription = inst[0].ds.SeriesDescription
                d.NumberOfSeriesRelatedInstances = len(inst)
                out.append(to_json(d))
            return self.send_json(out)
        m = re.fullmatch(r"/studies/([\d.]+)/series/([\d.]+)/metadata", path)
        if m:
            inst = self.studies.get(m[1], {}).get(m[2])
            if inst is None:
                return self.send_json([], 404)
            out = []
            for i in inst:
                j = to_json(i.ds)
                j["00020010"] = {"vr": "UI", "Value": [i.transfer_syntax_uid]}
                out.append(j)
            return self.send_json(out)
        m = re.fullmatch(r"/studies/([\d.]+)/series/([\d.]+)/instances/([\d.]+)/frames/(\d+)", path)
        if m:
            inst = self.studies.get(m[1], {}).get(m[2])
            found = [i for i in inst or [] if i.ds.SOPInstanceUID == m[3]]
            if not found:
                self.send_error(404)
                return
            frame = found[0].frames[int(m[4]) - 1]
            boundary = uuid.uuid4().hex
            body = (
                f"--{boundary}\r\nContent-Type: application/octet-stream; transfer-syntax={found[0].transfer_syntax_uid}\r\n\r\n".encode()
                + frame + f"\r\n--{boundary}--\r\n".encode()
            )
            self.send_response(200)
            self.send_header("Content-Type", f'multipart/related; type="application/octet-stream"; boundary={boundary}')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_error(404, "not in the synthetic server")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--static", type=Path, default=Path(__file__).resolve().parents[2] / "src/hounsfield/web/static")
    args = parser.parse_args()
    Handler.static = args.static
    Handler.studies = make_studies()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"serving {args.static} with {len(Handler.studies)} synthetic studies on http://127.0.0.1:{args.port}", flush=True)
    for uid in Handler.studies:
        print(f"  http://127.0.0.1:{args.port}/viewer?study={uid}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
