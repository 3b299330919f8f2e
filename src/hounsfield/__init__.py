"""Hounsfield: an open-source PACS."""

__version__ = "0.1.0"

# Implementation Class UID and Version Name sent in DICOM associations and file meta (PS3.7 D.3.3.2).
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1447.1"
IMPLEMENTATION_VERSION_NAME = "HOUNSFIELD_010"
