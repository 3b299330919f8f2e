"""De-identification by the PS3.15 Annex E Basic Application Level Confidentiality Profile.

Every attribute of Table E.1-1 (``confidentiality_profile.TABLE_E1_1``) gets its action,
changed by the options that are on. UIDs and the patient's identity are replaced by
pseudonyms derived with HMAC-SHA256 from a per-export salt, so the instances of one export
still refer to each other (same study, same series, same patient) while nothing links them
back to the originals without the salt. Used by share links, export and
``hounsfield anonymize``.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import io
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from hounsfield.auth.confidentiality_profile import (
    BASIC_PROFILE_CODE,
    OPTION_COLUMNS,
    ProfileRow,
    row_for_tag,
)
from hounsfield.errors import Forbidden

__all__ = [
    "BurnedInAnnotation",
    "DeidentifyOptions",
    "Deidentifier",
    "SAFE_PRIVATE_ATTRIBUTES",
    "deidentify_file",
    "effective_action",
    "resolve_action",
]


class BurnedInAnnotation(Forbidden):
    """The pixel data may show identifying text, which this profile cannot remove."""

    code = "burned_in_annotation"


@dataclass(frozen=True)
class DeidentifyOptions:
    """The options of PS3.15 E.3 that are on, plus ``allow_burned_in``.

    ``allow_burned_in`` lets objects whose pixels may carry burned-in text through; the
    profile itself never cleans pixel data (Clean Pixel Data Option is not offered).
    """

    retain_safe_private: bool = False
    retain_uids: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_patient_characteristics: bool = False
    retain_long_full_dates: bool = False
    retain_long_modified_dates: bool = False
    clean_descriptions: bool = False
    clean_structured_content: bool = False
    clean_graphics: bool = False
    allow_burned_in: bool = False

    def __post_init__(self) -> None:
        if self.retain_long_full_dates and self.retain_long_modified_dates:
            raise ValueError(
                "Options retain_long_full_dates and retain_long_modified_dates exclude each "
                "other (PS3.15 E.3.6): choose one.")

    @classmethod
    def from_settings(cls, settings: Any, **overrides: bool) -> "DeidentifyOptions":
        """Options from the ``deidentify.*`` settings, with per-call overrides."""
        values = {f.name: bool(settings[f"deidentify.{f.name}"]) for f in fields(cls)}
        values.update(overrides)
        return cls(**values)

    @property
    def enabled(self) -> tuple[str, ...]:
        """Names of the Table E.1-1 option columns that are on, in table order."""
        return tuple(name for name, _, _ in OPTION_COLUMNS if getattr(self, name))


# PS3.15 Table E.3.10-1 (excerpt): private attributes known to be safe, by private
# creator, group and element offset in the block. Deployments add their own through
# ``Deidentifier(safe_private=...)``.
SAFE_PRIVATE_ATTRIBUTES: frozenset[tuple[str, int, int]] = frozenset({
    ("SIEMENS MR HEADER", 0x0019, 0x0C),  # B_value
    ("SIEMENS MR HEADER", 0x0019, 0x0D),  # DiffusionDirectionality
    ("SIEMENS MR HEADER", 0x0019, 0x0E),  # DiffusionGradientDirection
    ("SIEMENS MR HEADER", 0x0019, 0x27),  # B_matrix
    ("GEMS_PARM_01", 0x0043, 0x39),  # Slop_int_6..9 (b-value)
    ("GEMS_ACQU_01", 0x0019, 0xBB),  # diffusion direction
    ("GEMS_ACQU_01", 0x0019, 0xBC),
    ("GEMS_ACQU_01", 0x0019, 0xBD),
    ("Philips Imaging DD 001", 0x2001, 0x03),  # Diffusion B-Factor
    ("Philips MR Imaging DD 001", 0x2005, 0xB0),  # Diffusion direction RL
    ("Philips MR Imaging DD 001", 0x2005, 0xB1),  # Diffusion direction AP
    ("Philips MR Imaging DD 001", 0x2005, 0xB2),  # Diffusion direction FH
})

# Storage SOP classes whose IODs are built from the classic image modules (General Study,
# Series, Equipment, Image, Acquisition, SOP Common); for them the Type of each attribute
# with a compound action is known (PS3.3 C.7), below.
_CLASSIC_IMAGE_SOP_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.1",  # CR
    "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1",  # DX
    "1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1",  # MG
    "1.2.840.10008.5.1.4.1.1.1.3", "1.2.840.10008.5.1.4.1.1.1.3.1",  # IO
    "1.2.840.10008.5.1.4.1.1.2",  # CT
    "1.2.840.10008.5.1.4.1.1.4",  # MR
    "1.2.840.10008.5.1.4.1.1.20",  # NM
    "1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1",  # US
    "1.2.840.10008.5.1.4.1.1.7",  # SC
    "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4",
    "1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.12.2",  # XA, RF
    "1.2.840.10008.5.1.4.1.1.128",  # PET
})
_CLASSIC_IMAGE_TYPES: Mapping[str, str] = {
    # General Series (C.7.3.1)
    "SeriesDate": "3", "SeriesTime": "3", "ProtocolName": "3", "OperatorsName": "3",
    "OperatorIdentificationSequence": "3", "ReferencedPerformedProcedureStepSequence": "3",
    "RequestedProcedureDescription": "3",
    # General Study (C.7.2.1)
    "ReferencedStudySequence": "3",
    # General Equipment (C.7.5.1)
    "InstitutionName": "3", "StationName": "3", "DeviceSerialNumber": "3",
    "InstitutionCodeSequence": "3",
    # General Image and General Acquisition (C.7.6.1, C.7.10.1)
    "ContentDate": "2", "ContentTime": "2", "AcquisitionDate": "3", "AcquisitionTime": "3",
    "AcquisitionDateTime": "3", "ReferencedImageSequence": "3", "SourceImageSequence": "3",
    # SOP Common (C.12.1)
    "InstanceCreationDate": "3", "InstanceCreationTime": "3",
    # DX Detector, DX Image (C.8.11)
    "DetectorID": "3", "AcquisitionDeviceProcessingDescription": "3",
    # Patient (C.7.1.1): 2C for veterinary patients
    "PatientSexNeutered": "2",
    # Contrast/Bolus (C.7.6.4)
    "ContrastBolusAgent": "2",
}

# Actions that keep an object conformant whatever the attribute's Type is, used when the
# Type is not known for the IOD at hand.
_ALWAYS_CONFORMANT = {"Z/D": "D", "X/Z": "Z", "X/D": "D", "X/Z/D": "D", "X/Z/U*": "U"}


def effective_action(row: ProfileRow, options: DeidentifyOptions) -> str:
    """The action of a row once the options are applied.

    When several options name the same attribute, keeping wins over cleaning, and
    cleaning over removal (each option only ever retains more).
    """
    codes = [row.options[name] for name in options.enabled if name in row.options]
    for code in ("K", "C", "X"):
        if code in codes:
            return code
    return row.basic


def resolve_action(action: str, keyword: str, sop_class_uid: str | None) -> str:
    """Resolve a compound action (``X/Z``...) to one of D, Z, X, K, C, U for one IOD.

    The first alternative is taken unless the attribute's Type in the IOD needs a later
    one (PS3.15 E.1.1): Type 3 removes, Type 2 empties, Type 1 replaces.
    """
    if "/" not in action:
        return action
    attribute_type = None
    if sop_class_uid in _CLASSIC_IMAGE_SOP_CLASSES:
        attribute_type = _CLASSIC_IMAGE_TYPES.get(keyword)
    if attribute_type is None:
        return _ALWAYS_CONFORMANT[action]
    choices = action.rstrip("*").split("/")
    wanted = {"3": ("X", "Z", "D", "U"), "2": ("Z", "D", "U"), "1": ("D", "U")}[attribute_type]
    for choice in wanted:
        if choice in choices:
            return choice
    return choices[-1]


_TEXT_VRS = frozenset({"LT", "ST", "UT"})
_STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH",
                         "ST", "TM", "UC", "UI", "UR", "UT"})
_DUMMY_TEXT = "ANONYMIZED"
_DUMMIES: Mapping[str, Any] = {
    "AE": "ANONYMIZED", "AS": "000D", "CS": "ANONYMIZED", "DA": "19000101",
    "DS": "0", "DT": "19000101000000", "IS": "0", "LO": _DUMMY_TEXT, "LT": _DUMMY_TEXT,
    "PN": "ANONYMIZED", "SH": _DUMMY_TEXT, "ST": _DUMMY_TEXT, "TM": "000000",
    "UC": _DUMMY_TEXT, "UR": "ANONYMIZED", "UT": _DUMMY_TEXT,
    "FL": 0.0, "FD": 0.0, "SL": 0, "SS": 0, "UL": 0, "US": 0, "SV": 0, "UV": 0,
    "AT": 0, "OB": b"\x00\x00", "OD": b"\x00" * 8, "OF": b"\x00" * 4, "OL": b"\x00" * 4,
    "OV": b"\x00" * 8, "OW": b"\x00\x00", "UN": b"\x00\x00",
}
# Identifiers whose values are blanked out of any text that the options keep and clean.
_IDENTIFYING_KEYWORDS = frozenset({
    "PatientID", "OtherPatientIDs", "IssuerOfPatientID", "PatientBirthDate",
    "AccessionNumber", "StudyID", "AdmissionID", "MedicalRecordLocator", "PatientAddress",
    "PatientTelephoneNumbers", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber",
    "RequestedProcedureID", "PerformedProcedureStepID", "ScheduledProcedureStepID",
    "ServiceEpisodeID", "PlacerOrderNumberImagingServiceRequest",
    "FillerOrderNumberImagingServiceRequest", "ClinicalTrialSubjectID",
})
_METHOD_TAGS = (0x00120062, 0x00120063, 0x00120064, 0x00280303)
_BURNED_IN_SOP_CLASS_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture (all flavours)
    "1.2.840.10008.5.1.4.1.1.6.",  # Ultrasound
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic (and Enhanced XA)
)
# Modalities whose images commonly carry the patient's name in the pixels.
_BURNED_IN_MODALITIES = frozenset({"US", "SC", "OT", "XA"})


class Deidentifier:
    """Applies the profile to the instances of one export with consistent pseudonyms.

    One instance of this class is one export: the same original UID, Patient ID or
    Patient's Name always gives the same replacement, derived from ``salt`` with
    HMAC-SHA256. Pass a new random salt for each export that must not be linkable.
    """

    def __init__(self, options: DeidentifyOptions | None = None, *, uid_root: str = "2.25",
                 salt: bytes,
                 safe_private: Iterable[tuple[str, int, int]] = SAFE_PRIVATE_ATTRIBUTES
                 ) -> None:
        if not isinstance(salt, bytes) or len(salt) < 16:
            raise ValueError('Argument "salt" must be at least 16 random bytes.')
        # At most 32 characters, so that at least 31 digits (about 100 bits) remain.
        if not re.fullmatch(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*", uid_root) or \
                len(uid_root) > 32:
            raise ValueError(f'Argument "uid_root" must be a UID root of at most 32 '
                             f'characters, not {uid_root!r}')
        self.options = options or DeidentifyOptions()
        self.uid_root = uid_root
        self._salt = salt
        self._safe_private = frozenset(safe_private)
        # PS3.15 E.3.6: one shift for the whole export keeps intervals between dates.
        self.date_shift = dt.timedelta(days=1 + self._digest_int(b"date-shift") % 3650)

    # --- pseudonyms ---------------------------------------------------------------------
    def _digest(self, kind: bytes, value: str) -> bytes:
        return hmac.new(self._salt, kind + b"\x00" + value.encode("utf-8"),
                        hashlib.sha256).digest()

    def _digest_int(self, kind: bytes) -> int:
        return int.from_bytes(self._digest(kind, "")[:8], "big")

    def pseudonymous_uid(self, uid: str) -> str:
        """The replacement of ``uid``: ``<root>.<decimal of HMAC-SHA256(salt, uid)>``.

        The number keeps 128 bits (as a UUID-derived 2.25 UID does, PS3.5 B.2) and is cut
        so that the UID fits the 64 characters of the UI VR.
        """
        number = int.from_bytes(self._digest(b"uid", uid.strip())[:16], "big")
        room = 64 - len(self.uid_root) - 1
        return f"{self.uid_root}.{number % (10 ** room)}"

    def pseudonymous_patient_id(self, patient_id: str) -> str:
        return "ANON" + self._digest(b"patient-id", patient_id).hex()[:12].upper()

    def pseudonymous_patient_name(self, patient_id: str, patient_name: str) -> str:
        tag = self._digest(b"patient-name", patient_id + "\x00" + patient_name)
        return "ANONYMOUS^" + tag.hex()[:10].upper()

    def _pseudonymous_ae(self, ae_title: str) -> str:
        return "AE" + self._digest(b"ae", ae_title).hex()[:14].upper()

    # --- the profile --------------------------------------------------------------------
    def check_burned_in(self, ds: Dataset) -> None:
        """Refuse objects whose pixels may carry identifying text (PS3.15 E.3.1 note)."""
        if self.options.allow_burned_in:
            return
        flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
        sop_class = str(ds.get("SOPClassUID", "") or "")
        modality = str(ds.get("Modality", "") or "").strip().upper()
        if flag == "YES":
            raise BurnedInAnnotation(
                f"Instance {ds.get('SOPInstanceUID', '?')} has Burned In Annotation "
                "(0028,0301) YES; refusing to de-identify it (allow_burned_in is off).")
        risky = sop_class.startswith(_BURNED_IN_SOP_CLASS_PREFIXES) or \
            modality in _BURNED_IN_MODALITIES
        if risky and "PixelData" in ds and flag != "NO":
            raise BurnedInAnnotation(
                f"Instance {ds.get('SOPInstanceUID', '?')} (modality {modality or '?'}, SOP "
                f"class {sop_class or '?'}) may carry burned-in text and has no Burned In "
                "Annotation (0028,0301) NO; refusing to de-identify it (allow_burned_in is "
                "off).")

    def deidentify(self, ds: Dataset, *, in_place: bool = False) -> Dataset:
        """A de-identified copy of ``ds`` (and of its file meta, when it has one);
        ``ds`` itself, changed, with ``in_place`` (for a dataset made only for this)."""
        self.check_burned_in(ds)
        out = ds if in_place else copy.deepcopy(ds)
        sop_class_uid = str(out.get("SOPClassUID", "") or "") or None
        scrub = self._identifying_strings(out)
        patient_id = str(ds.get("PatientID", "") or "")
        patient_name = str(ds.get("PatientName", "") or "")
        for tag in _METHOD_TAGS:
            if tag in out:
                del out[tag]
        self._apply(out, sop_class_uid, scrub, mode="", top=True)
        if patient_id and "PatientID" in out:
            out.PatientID = self.pseudonymous_patient_id(patient_id)
        if patient_name and "PatientName" in out:
            out.PatientName = self.pseudonymous_patient_name(patient_id, patient_name)
        self._record_method(out)
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            out.file_meta = self._file_meta(meta, out)
        return out

    def _file_meta(self, meta: Dataset, ds: Dataset) -> FileMetaDataset:
        new = FileMetaDataset(copy.deepcopy(meta))
        if "SOPInstanceUID" in ds:
            new.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if "SOPClassUID" in ds:
            new.MediaStorageSOPClassUID = ds.SOPClassUID
        # Source and sending AE titles name devices of the originating site (PS3.10 7.1).
        for keyword in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                        "ReceivingApplicationEntityTitle", "PrivateInformationCreatorUID",
                        "PrivateInformation"):
            if keyword in new:
                del new[keyword]
        return new

    def _record_method(self, ds: Dataset) -> None:
        """PS3.15 E.1.1: Patient Identity Removed, De-identification Method (Code Seq.)."""
        ds.PatientIdentityRemoved = "YES"
        codes = [BASIC_PROFILE_CODE] + [
            (code, meaning) for name, code, meaning in OPTION_COLUMNS
            if getattr(self.options, name)]
        ds.DeidentificationMethod = [meaning for _, meaning in codes]
        items = []
        for code, meaning in codes:
            item = Dataset()
            item.CodeValue = code
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        if self.options.retain_long_modified_dates:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        elif self.options.retain_long_full_dates:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"

    def _identifying_strings(self, ds: Dataset) -> list[str]:
        """Values that cleaned text must not repeat: names, identifiers, birth date."""
        found: set[str] = set()
        for elem in ds.iterall():
            tag = int(elem.tag)
            if elem.value in (None, "") or not (
                    elem.VR == "PN" or keyword_for_tag(tag) in _IDENTIFYING_KEYWORDS):
                continue
            row = row_for_tag(tag)
            if row is None or effective_action(row, self.options) == "K":
                continue
            values = elem.value if elem.VM > 1 else [elem.value]
            for value in values:
                text = str(value)
                found.add(text)
                if elem.VR == "PN":
                    found.update(part for part in re.split(r"[\^=]", text) if part)
        return sorted((s for s in found if len(s.strip()) >= 3), key=len, reverse=True)

    def _clean_text(self, text: str, scrub: list[str]) -> str:
        for value in scrub:
            text = re.sub(re.escape(value.strip()), "***", text, flags=re.IGNORECASE)
        return text

    def _apply(self, ds: Dataset, sop_class_uid: str | None, scrub: list[str], *,
               mode: str, top: bool = False) -> None:
        """Apply the profile to ``ds`` in place. ``mode`` is "", "dummy" or "clean": the
        action of the enclosing sequence, which reaches free text the table does not list.
        """
        self._apply_private(ds, sop_class_uid, scrub, mode)
        for tag in list(ds.keys()):
            tag_int = int(tag)
            if tag_int >> 16 & 1:
                continue  # private: handled above
            if tag_int & 0xFFFF == 0 and tag_int >> 16 != 0x0002:
                del ds[tag]  # group lengths (retired) would no longer be right
                continue
            if top and tag_int in _METHOD_TAGS:
                continue
            elem = ds[tag]
            row = row_for_tag(tag_int)
            if row is None:
                self._unlisted(ds, elem, sop_class_uid, scrub, mode)
                continue
            action = resolve_action(effective_action(row, self.options),
                                    keyword_for_tag(tag_int), sop_class_uid)
            self._act(ds, elem, action, sop_class_uid, scrub)

    def _unlisted(self, ds: Dataset, elem: DataElement, sop_class_uid: str | None,
                  scrub: list[str], mode: str) -> None:
        """Attributes the table does not list are kept (PS3.15 E.1.1), but the table still
        applies inside their sequences, and free text inside a replaced or cleaned
        sequence (Content Sequence, Graphic Annotation Sequence) is replaced or cleaned."""
        if elem.VR == "SQ":
            for item in elem.value or []:
                self._apply(item, sop_class_uid, scrub, mode=mode)
        elif mode == "dummy" and elem.VR in _TEXT_VRS | {"PN"} and elem.value not in (None, ""):
            elem.value = _DUMMIES[elem.VR]
        elif mode == "clean" and elem.VR in _TEXT_VRS | {"PN"} and elem.value not in (None, ""):
            elem.value = self._clean_text(str(elem.value), scrub)

    def _act(self, ds: Dataset, elem: DataElement, action: str, sop_class_uid: str | None,
             scrub: list[str]) -> None:
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = Sequence() if elem.VR == "SQ" else None
        elif action == "K":
            if elem.VR == "SQ":  # K on a sequence: kept, its items still de-identified
                for item in elem.value or []:
                    self._apply(item, sop_class_uid, scrub, mode="")
        elif action == "U":
            if elem.VR == "SQ":  # X/Z/U*: keep references, replace the UIDs inside
                for item in elem.value or []:
                    self._apply(item, sop_class_uid, scrub, mode="")
            else:
                self._replace_uids(elem)
        elif action == "D":
            self._dummy(elem, sop_class_uid, scrub)
        elif action == "C":
            self._clean(elem, sop_class_uid, scrub)
        else:  # pragma: no cover - the table parser admits no other code
            raise ValueError(f"Unknown action {action!r} for {elem.tag}")

    def _replace_uids(self, elem: DataElement) -> None:
        if elem.value in (None, ""):
            return
        if elem.VM > 1:
            elem.value = [self.pseudonymous_uid(str(v)) for v in elem.value]
        else:
            elem.value = self.pseudonymous_uid(str(elem.value))

    def _dummy(self, elem: DataElement, sop_class_uid: str | None, scrub: list[str]) -> None:
        if elem.VR == "SQ":
            for item in elem.value or []:
                self._apply(item, sop_class_uid, scrub, mode="dummy")
            return
        if elem.VR == "UI":
            if elem.value:
                self._replace_uids(elem)
            else:
                elem.value = self.pseudonymous_uid("dummy")
            return
        vr = elem.VR.split(" or ")[0]
        elem.value = _DUMMIES.get(vr, b"\x00\x00")

    def _clean(self, elem: DataElement, sop_class_uid: str | None, scrub: list[str]) -> None:
        """C: values of similar meaning that identify no one (PS3.15 E.3.5 - E.3.7)."""
        if elem.VR == "SQ":
            for item in elem.value or []:
                self._apply(item, sop_class_uid, scrub, mode="clean")
            return
        if elem.value in (None, ""):
            return
        if elem.VR in ("DA", "DT") and self.options.retain_long_modified_dates:
            elem.value = self._shift_dates(elem)
        elif elem.VR == "AE":
            values = elem.value if elem.VM > 1 else [elem.value]
            shifted = [self._pseudonymous_ae(str(v)) for v in values]
            elem.value = shifted if elem.VM > 1 else shifted[0]
        elif elem.VR in _STRING_VRS and elem.VR not in ("DA", "DT", "TM", "UI", "DS", "IS"):
            values = elem.value if elem.VM > 1 else [elem.value]
            cleaned = [self._clean_text(str(v), scrub) for v in values]
            elem.value = cleaned if elem.VM > 1 else cleaned[0]
        # Numbers, times and binary values carry no identity once dates are shifted.

    def _shift_dates(self, elem: DataElement) -> Any:
        values = elem.value if elem.VM > 1 else [elem.value]
        shifted = []
        for value in values:
            text = str(value)
            try:
                day = dt.datetime.strptime(text[:8], "%Y%m%d").date()
            except ValueError:
                shifted.append(_DUMMIES[elem.VR])
                continue
            shifted.append((day - self.date_shift).strftime("%Y%m%d") + text[8:])
        return shifted if elem.VM > 1 else shifted[0]

    def _apply_private(self, ds: Dataset, sop_class_uid: str | None, scrub: list[str],
                       mode: str) -> None:
        """Private attributes: removed (X), or with Retain Safe Private only those known
        to be safe (PS3.15 E.3.10) are kept, with their private creators."""
        private = [tag for tag in ds.keys() if int(tag) >> 16 & 1]
        if not private:
            return
        keep_safe = "retain_safe_private" in self.options.enabled
        creators = {int(t): str(ds[t].value) for t in private if 0x10 <= int(t) & 0xFFFF <= 0xFF}
        used_blocks: set[int] = set()
        for tag in private:
            tag_int = int(tag)
            group, element = tag_int >> 16, tag_int & 0xFFFF
            if element <= 0xFF:
                continue  # creators, decided below
            block = (group << 16) | (element >> 8)
            creator = creators.get(block)
            if keep_safe and creator is not None and \
                    (creator, group, element & 0xFF) in self._safe_private:
                used_blocks.add(block)
                if ds[tag].VR == "SQ":
                    for item in ds[tag].value or []:
                        self._apply(item, sop_class_uid, scrub, mode=mode)
                continue
            del ds[tag]
        for tag in private:
            tag_int = int(tag)
            if tag_int & 0xFFFF <= 0xFF and tag_int not in used_blocks and tag in ds:
                del ds[tag]


def deidentify_file(source: bytes | str | Path, deidentifier: Deidentifier) -> bytes:
    """De-identify a Part 10 file (path or bytes) and return the new Part 10 file.

    The transfer syntax and the pixel data are kept as they are; the file meta's Media
    Storage SOP Instance UID follows the new SOP Instance UID (PS3.10 7.1).
    """
    if isinstance(source, (bytes, bytearray)):
        ds = dcmread(io.BytesIO(source))
    else:
        ds = dcmread(str(source))
    out = deidentifier.deidentify(ds)
    if not getattr(out, "file_meta", None) or "TransferSyntaxUID" not in out.file_meta:
        raise ValueError("The source has no File Meta Information Transfer Syntax UID; "
                         "it is not a Part 10 file.")
    out.file_meta.TransferSyntaxUID = UID(str(out.file_meta.TransferSyntaxUID))
    buffer = io.BytesIO()
    out.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
