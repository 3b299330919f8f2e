"""A large object streams through: memory stays bounded while it is received and sent
(DESIGN rule 3), and the stored bytes are the sent ones."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

from pydicom.uid import ExplicitVRLittleEndian

from hounsfield.dicom import Association, DicomServer
from hounsfield.dicom.datasets import parse_file_meta

from dicom_peers import data_set_bytes, make_image

CT = "1.2.840.10008.5.1.4.1.1.2"
SIZE = 48 << 20


async def test_a_48_mb_object_streams_with_bounded_memory(server: DicomServer, archive,
                                                          tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ds = make_image(size=16)
    ds.Rows, ds.Columns = 4096, SIZE // 2 // 4096
    ds.PixelData = bytes(range(256)) * (SIZE // 256)
    path = tmp_path / "big.dcm"
    ds.save_as(path, enforce_file_format=True)
    del ds
    sent_digest = hashlib.sha256(data_set_bytes(path.read_bytes())[1]).hexdigest()

    tracemalloc.start()
    try:
        async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "BIG",
                                       [(CT, [ExplicitVRLittleEndian])],
                                       max_pdu_length=65536) as assoc:
            result = await assoc.store(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok, result.reason
    assert peak < 24 << 20, f"peak {peak >> 20} MiB while streaming a {SIZE >> 20} MiB object"
    refs = await archive.instances(sop_instance_uid=result.sop_instance_uid)
    digest = hashlib.sha256()
    first = True
    async for chunk in archive.read_instance(refs[0]):  # 1 MiB chunks: the meta is in the first
        if first:
            chunk, first = chunk[parse_file_meta(chunk).data_set_offset:], False
        digest.update(chunk)
    assert digest.hexdigest() == sent_digest
