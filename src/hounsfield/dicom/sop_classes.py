"""The SOP classes and transfer syntaxes the DICOM service knows (PS3.4 Annexes A-C).

These tables drive negotiation and the conformance statement, so the statement always
says what the code does.
"""

from __future__ import annotations

from functools import lru_cache

from pydicom._uid_dict import UID_dictionary
from pydicom.uid import UID

VERIFICATION = "1.2.840.10008.1.1"

PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"

# abstract syntax -> (service kind, information model root)
QUERY_RETRIEVE: dict[str, tuple[str, str]] = {
    PATIENT_ROOT_FIND: ("find", "PATIENT"),
    STUDY_ROOT_FIND: ("find", "STUDY"),
    PATIENT_ROOT_MOVE: ("move", "PATIENT"),
    STUDY_ROOT_MOVE: ("move", "STUDY"),
    PATIENT_ROOT_GET: ("get", "PATIENT"),
    STUDY_ROOT_GET: ("get", "STUDY"),
}

MODELS = {
    "patient": {"find": PATIENT_ROOT_FIND, "move": PATIENT_ROOT_MOVE, "get": PATIENT_ROOT_GET},
    "study": {"find": STUDY_ROOT_FIND, "move": STUDY_ROOT_MOVE, "get": STUDY_ROOT_GET},
}

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
# Transfer syntaxes for command-like data sets (identifiers) of Verification and Q/R.
QUERY_TRANSFER_SYNTAXES = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)

UNCOMPRESSED_SYNTAXES = QUERY_TRANSFER_SYNTAXES

# Storage SOP classes an SCU proposes when it cannot know in advance what will come (C-GET
# from the command line): the everyday imaging and document classes (PS3.4 B.5).
COMMON_STORAGE = (
    "1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1", "1.2.840.10008.5.1.4.1.1.1.3",
    "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.3.1",
    "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.6.1",
    "1.2.840.10008.5.1.4.1.1.6.2", "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.1",
    "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4",
    "1.2.840.10008.5.1.4.1.1.11.1", "1.2.840.10008.5.1.4.1.1.11.2", "1.2.840.10008.5.1.4.1.1.12.1",
    "1.2.840.10008.5.1.4.1.1.12.1.1", "1.2.840.10008.5.1.4.1.1.12.2", "1.2.840.10008.5.1.4.1.1.13.1.1",
    "1.2.840.10008.5.1.4.1.1.13.1.3", "1.2.840.10008.5.1.4.1.1.20", "1.2.840.10008.5.1.4.1.1.66",
    "1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.77.1.4", "1.2.840.10008.5.1.4.1.1.88.11",
    "1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.59",
    "1.2.840.10008.5.1.4.1.1.88.67", "1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.128",
    "1.2.840.10008.5.1.4.1.1.130", "1.2.840.10008.5.1.4.1.1.481.1", "1.2.840.10008.5.1.4.1.1.481.2",
    "1.2.840.10008.5.1.4.1.1.481.3", "1.2.840.10008.5.1.4.1.1.481.5",
)

# Names that look like storage but are not Storage Service Class SOP classes (PS3.4 B.5).
_NOT_STORAGE = ("Commitment", "Media Storage Directory", "Stored Print", "Hardcopy")


@lru_cache(maxsize=1)
def storage_sop_classes() -> dict[str, str]:
    """Every Storage SOP class pydicom knows: UID -> name (PS3.4 B.5, retired included)."""
    out = {}
    for uid, entry in UID_dictionary.items():
        name = entry[0]
        if entry[1] == "SOP Class" and "Storage" in name and not any(
                word in name for word in _NOT_STORAGE):
            out[uid] = name
    return dict(sorted(out.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]))


@lru_cache(maxsize=1)
def known_sop_classes() -> frozenset[str]:
    return frozenset(uid for uid, entry in UID_dictionary.items()
                     if entry[1] in ("SOP Class", "Meta SOP Class"))


def is_storage(uid: str, accept_unknown: bool) -> bool:
    """Storage SOP class, or an unknown (private) one when ``accept_unknown``."""
    if uid in storage_sop_classes():
        return True
    return accept_unknown and uid not in known_sop_classes() and uid not in QUERY_RETRIEVE \
        and uid != VERIFICATION


def all_transfer_syntaxes() -> list[str]:
    """Every transfer syntax pydicom knows, uncompressed ones first."""
    from pydicom.uid import AllTransferSyntaxes
    rest = [str(ts) for ts in AllTransferSyntaxes if str(ts) not in UNCOMPRESSED_SYNTAXES]
    return list(UNCOMPRESSED_SYNTAXES) + rest


def is_transfer_syntax(uid: str) -> bool:
    return UID(uid).is_transfer_syntax


def transfer_syntax_name(uid: str) -> str:
    entry = UID_dictionary.get(uid)
    return entry[0] if entry else uid


def sop_class_name(uid: str) -> str:
    entry = UID_dictionary.get(uid)
    return entry[0] if entry else uid


def service_kind(uid: str, accept_unknown: bool) -> str | None:
    """'echo', 'store', 'find', 'move', 'get' or None for what we cannot serve."""
    if uid == VERIFICATION:
        return "echo"
    if uid in QUERY_RETRIEVE:
        return QUERY_RETRIEVE[uid][0]
    if is_storage(uid, accept_unknown):
        return "store"
    return None
