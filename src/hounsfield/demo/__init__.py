"""Synthetic DICOM data: the demo data set, test phantoms and the benchmark corpus.

Every object is valid against its IOD and reproducible from a seed; see
``generator`` for the SOP classes, ``dataset`` for the demo set and corpus, and
``files`` for Part 10 writing and the compressed transfer syntaxes that work.
"""

from hounsfield.demo.dataset import (
    demo_dataset,
    demo_studies,
    instance_path,
    small_corpus,
    small_instance,
    small_patient,
    write_demo,
)
from hounsfield.demo.files import COMPRESSED_SYNTAXES, compress, to_bytes, write
from hounsfield.demo.generator import (
    cr_image,
    ct_volume,
    encapsulated_pdf,
    mr_series,
    secondary_capture,
    us_multiframe,
    xa_multiframe,
)
from hounsfield.demo.patients import Patient, Study, demo_patients
from hounsfield.demo.phantoms import CT_TISSUES, ct_slice_labels

__all__ = [
    "COMPRESSED_SYNTAXES", "CT_TISSUES", "Patient", "Study", "compress", "cr_image",
    "ct_slice_labels", "ct_volume", "demo_dataset", "demo_patients", "demo_studies",
    "encapsulated_pdf", "instance_path", "mr_series", "secondary_capture", "small_corpus",
    "small_instance", "small_patient", "to_bytes", "us_multiframe", "write", "write_demo",
    "xa_multiframe",
]
