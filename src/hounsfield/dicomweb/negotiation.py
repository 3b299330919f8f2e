"""Transfer syntax and media type negotiation for WADO-RS (PS3.18 8.7.3).

A request lists acceptable representations (media type, optional ``transfer-syntax``,
quality); each stored object gets the first one it can be delivered in, as stored or
transcoded. Nothing here reads data: the decision uses the stored transfer syntax only.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import UID

from hounsfield.dicomweb.accept import MediaRange
from hounsfield.errors import NotAcceptable
from hounsfield.imaging.transcode import choose_transfer_syntax

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
NATIVE_LITTLE_ENDIAN = frozenset({EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN})
NATIVE = NATIVE_LITTLE_ENDIAN | {EXPLICIT_VR_BIG_ENDIAN, DEFLATED}
AS_STORED = "*"

# PS3.18 Table 8.7.3-5: media types of compressed frames and their transfer syntaxes.
FRAME_MEDIA_TYPES: dict[str, frozenset[str]] = {
    "image/jpeg": frozenset({"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
                             "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}),
    "image/jls": frozenset({"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}),
    "image/jp2": frozenset({"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}),
    "image/jpx": frozenset({"1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93"}),
    # HTJ2K (PS3.18 Table 8.7.3-5): lossless, lossless RPCL, lossy
    "image/jphc": frozenset({"1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
                             "1.2.840.10008.1.2.4.203"}),
    "image/dicom-rle": frozenset({"1.2.840.10008.1.2.5"}),
    "image/x-dicom-rle": frozenset({"1.2.840.10008.1.2.5"}),
    "video/mpeg2": frozenset({"1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101"}),
    "video/mp4": frozenset({"1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103",
                            "1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.105",
                            "1.2.840.10008.1.2.4.106"}),
}
OCTET_STREAM = "application/octet-stream"


def is_encapsulated(transfer_syntax_uid: str) -> bool:
    return transfer_syntax_uid not in NATIVE


@dataclass(frozen=True)
class DicomChoice:
    """How to deliver instances: multipart or a single part, and the syntaxes wanted."""

    multipart: bool
    syntaxes: tuple[str, ...]  # in preference order; "*" means as stored

    def target_for(self, stored: str) -> str | None:
        """The syntax to send an object stored in ``stored`` in; None if impossible."""
        return choose_transfer_syntax(stored, self.syntaxes)


def choose_dicom(ranges: list[MediaRange], *, single_instance: bool) -> DicomChoice:
    """The acceptable application/dicom representations of a retrieve (PS3.18 8.7.3.5.2)."""
    multipart: list[str] = []
    single: list[str] = []
    for media in ranges:
        syntax = media.transfer_syntax or EXPLICIT_VR_LITTLE_ENDIAN
        if media.type == "*/*" or media.type == "multipart/*":
            multipart.append(syntax if media.transfer_syntax else EXPLICIT_VR_LITTLE_ENDIAN)
        elif media.type == "multipart/related":
            if media.part_type in (None, "application/dicom", "application/*", "*/*"):
                multipart.append(syntax)
        elif media.type == "application/dicom" and single_instance:
            single.append(syntax)
    if multipart:
        return DicomChoice(True, tuple(multipart))
    if single:
        return DicomChoice(False, tuple(single))
    raise NotAcceptable('Instances are offered as multipart/related; type="application/dicom"'
                        + (" or application/dicom" if single_instance else "")
                        + "; the request accepts none of these")


@dataclass(frozen=True)
class FrameOption:
    """One acceptable representation of frames."""

    media_type: str  # part media type: application/octet-stream or image/...
    syntax: str | None  # None: the media type's default; "*": as stored
    multipart: bool = True


@dataclass(frozen=True)
class FramePlan:
    """How frames of one object are delivered: as stored or decoded, and their type."""

    media_type: str
    transfer_syntax_uid: str
    decode: bool  # decode compressed frames to native pixels
    multipart: bool


def frame_options(ranges: list[MediaRange]) -> list[FrameOption]:
    options: list[FrameOption] = []
    for media in ranges:
        if media.type in ("*/*", "multipart/*"):
            # The default representation (PS3.18 8.7.3.5.2): Explicit VR Little Endian.
            options.append(FrameOption("*/*", media.transfer_syntax))
        elif media.type == "multipart/related":
            part = media.part_type or OCTET_STREAM
            options.append(FrameOption(part, media.transfer_syntax))
        elif media.type in (OCTET_STREAM, *FRAME_MEDIA_TYPES) or media.type.endswith("/*"):
            options.append(FrameOption(media.type, media.transfer_syntax, multipart=False))
    return options


def plan_frames(options: list[FrameOption], stored: str) -> FramePlan:
    """The first acceptable way to deliver frames of an object stored in ``stored``."""
    compressed = is_encapsulated(stored)
    for option in options:
        part, syntax = option.media_type, option.syntax
        if part in ("*/*", "application/*") and syntax == AS_STORED:
            return FramePlan(OCTET_STREAM, _frame_syntax(stored), False, option.multipart)
        if part in (OCTET_STREAM, "*/*", "application/*"):
            if syntax == AS_STORED or (syntax is not None and syntax == stored):
                return FramePlan(OCTET_STREAM, _frame_syntax(stored), False, option.multipart)
            if syntax in (None, EXPLICIT_VR_LITTLE_ENDIAN):
                return FramePlan(OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN, compressed,
                                 option.multipart)
            continue
        for media_type, syntaxes in FRAME_MEDIA_TYPES.items():
            if stored in syntaxes and _covers(part, media_type) and syntax in (
                    None, AS_STORED, stored):
                return FramePlan(media_type, stored, False, option.multipart)
    raise NotAcceptable(
        f"Frames stored in {stored} ({UID(stored).name}) can be sent as stored or as "
        f"application/octet-stream with transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}; the "
        "request accepts neither")


def _covers(accepted: str, media_type: str) -> bool:
    if accepted in ("*/*", media_type):
        return True
    return accepted.endswith("/*") and media_type.startswith(accepted[:-1])


def _frame_syntax(stored: str) -> str:
    # Native frames are sent little endian, explicit VR (PS3.18 8.7.3.5.3).
    return EXPLICIT_VR_LITTLE_ENDIAN if not is_encapsulated(stored) else stored
