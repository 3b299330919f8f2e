"""De-identification checked attribute by attribute against PS3.15 Table E.1-1."""

from __future__ import annotations

import copy
import datetime as dt
import io
import re

import pytest
from pydicom import config, dcmread
from pydicom.datadict import dictionary_VR, dictionary_has_tag, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from hounsfield.auth.confidentiality_profile import OPTION_COLUMNS, TABLE_E1_1, row_for_tag
from hounsfield.auth.deidentify import (
    BurnedInAnnotation,
    DeidentifyOptions,
    Deidentifier,
    deidentify_file,
    effective_action,
    resolve_action,
)
from hounsfield.config import load_settings
from hounsfield.errors import Forbidden

CT = "1.2.840.10008.5.1.4.1.1.2"
UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
SALT = b"0123456789abcdef-test-salt"
PATIENT = "Smith^Jane"
PATIENT_ID = "PID-778899"

_VALUES = {
    "AE": "MODALITY7", "AS": "045Y", "CS": "VALUE1", "DA": "20240315", "DS": "12.5",
    "DT": "20240315101010", "IS": "42", "LO": "Long text of Smith", "LT": "Long text",
    "PN": "Jones^Bob", "SH": "SHORT1", "ST": "Short text", "TM": "101010",
    "UC": "Unlimited chars", "UR": "http://example.org/x", "UT": "Unlimited text",
    "FL": 1.5, "FD": 2.5, "SL": -3, "SS": -4, "UL": 5, "US": 6, "SV": -7, "UV": 8,
    "AT": 0x00100010, "OB": b"\x01\x02", "OD": b"\x01" * 8, "OF": b"\x01" * 4,
    "OL": b"\x01" * 4, "OV": b"\x01" * 8, "OW": b"\x01\x02", "UN": b"\x01\x02",
}

# Concrete tags standing for the repeating-group rows.
_RANGE_TAGS = {"(50xx,xxxx)": [0x50000005, 0x50003000], "(60xx,3000)": [0x60003000],
               "(60xx,4000)": [0x60004000]}


def _item(referenced_uid: str) -> Dataset:
    item = Dataset()
    item.CodeValue = "121071"
    item.CodingSchemeDesignator = "DCM"
    item.TextValue = f"Free text about {PATIENT}"
    item.ReferencedSOPInstanceUID = referenced_uid
    item.add_new(0x00291010, "LO", "private in item")
    return item


def _value(tag: int) -> object:
    vr = dictionary_VR(tag).split(" or ")[0]
    if vr == "UI":
        return generate_uid()
    if vr == "SQ":
        return Sequence([_item(generate_uid())])
    return _VALUES[vr]


def _tags_of(row) -> list[int]:
    if row.is_private:
        return []
    if row.is_range:
        return _RANGE_TAGS[row.tag]
    tag = row.tag_value
    # Group 0002 lives in the file meta, tested with deidentify_file.
    return [tag] if dictionary_has_tag(tag) and tag >> 16 != 0x0002 else []


TESTED_TAGS = [(row, tag) for row in TABLE_E1_1 for tag in _tags_of(row)]


def make_dataset(study_uid: str, for_uid: str) -> Dataset:
    """Every attribute of Table E.1-1 that pydicom knows, private tags, nested sequences."""
    ds = Dataset()
    for _, tag in TESTED_TAGS:
        vr = dictionary_VR(tag).split(" or ")[0]
        ds.add_new(tag, vr, _value(tag))
    ds.SOPClassUID = CT
    ds.StudyInstanceUID = study_uid
    ds.FrameOfReferenceUID = for_uid
    ds.PatientName = PATIENT
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19700101"
    ds.Modality = "CT"
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "LO", f"{PATIENT} private")
    ds.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
    ds.add_new(0x0019100C, "IS", "1000")  # b-value: a safe private attribute
    ds.add_new(0x0019100B, "LO", "not safe")
    inner = Dataset()
    inner.ReferringPhysicianName = "Who^Doctor"
    inner.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    inner.add_new(0x00330010, "LO", "ACME")
    inner.add_new(0x00331001, "LO", "private deep inside")
    middle = Dataset()
    middle.CodeValue = "1"
    middle.DerivationCodeSequence = Sequence([inner])  # (0008,9215): not in the table
    ds.AnatomicRegionSequence = Sequence([middle])  # (0008,2218): not in the table
    return ds


@pytest.fixture
def original() -> Dataset:
    return make_dataset(generate_uid(), generate_uid())


def _is_empty(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, Sequence) and len(value) == 0)


def _expected(row, tag: int, options: DeidentifyOptions) -> str:
    return resolve_action(effective_action(row, options), keyword_for_tag(tag), CT)


def check_basic(row, tag: int, action: str, before: Dataset, after: Dataset,
                retain_uids: bool = False) -> None:
    """One attribute after de-identification against its (resolved) action."""
    where = f"{row.tag} {row.name} ({action})"
    uid_changes = (lambda a, b: a == b) if retain_uids else (lambda a, b: a != b)
    old = before[tag].value
    if action == "X":
        assert tag not in after, where
        return
    assert tag in after, where
    new = after[tag].value
    if action == "Z":
        if tag in (0x00100010, 0x00100020):  # Z allows a dummy: our consistent pseudonym
            assert new and str(new) != str(old), where
        else:
            assert _is_empty(new), where
    elif action == "D":
        assert not _is_empty(new), where
        if isinstance(old, Sequence):
            assert new[0].TextValue != old[0].TextValue, where
            assert uid_changes(new[0].ReferencedSOPInstanceUID,
                               old[0].ReferencedSOPInstanceUID), where
        else:
            assert new != old, where
    elif action == "U":
        if isinstance(old, Sequence):
            assert uid_changes(new[0].ReferencedSOPInstanceUID,
                               old[0].ReferencedSOPInstanceUID), where
        else:
            assert new != old and UID_RE.match(str(new)) and len(str(new)) <= 64, where
    elif action == "K":
        if isinstance(old, Sequence):
            assert len(new) == len(old), where
        else:
            assert new == old, where
    else:
        raise AssertionError(f"unexpected action {action} for {where}")


def test_table_is_complete_and_well_formed():
    assert len(TABLE_E1_1) > 600
    tags = [row.tag for row in TABLE_E1_1]
    assert len(tags) == len(set(tags))
    for needed in ("(50xx,xxxx)", "(60xx,3000)", "(60xx,4000)", "private", "(0010,0010)",
                   "(0020,000D)", "(0008,0050)", "(0040,A730)", "(FFFA,FFFA)"):
        assert needed in tags
    assert row_for_tag(0x60024000).name == "Overlay Comments"
    assert row_for_tag(0x50123000).name == "Curve Data"
    assert row_for_tag(0x00091001).is_private
    assert row_for_tag(0x00280010) is None  # Rows: not listed, kept
    # Most rows are attributes pydicom knows, so the test below covers them.
    assert len(TESTED_TAGS) > 600


def test_basic_profile_every_attribute(original):
    out = Deidentifier(DeidentifyOptions(), salt=SALT).deidentify(original)
    options = DeidentifyOptions()
    for row, tag in TESTED_TAGS:
        check_basic(row, tag, _expected(row, tag, options), original, out)
    # Private attributes are gone, at the top and deep inside sequences.
    assert not [e for e in out.iterall() if e.tag.is_private]
    inner = out.AnatomicRegionSequence[0].DerivationCodeSequence[0]
    assert _is_empty(inner.ReferringPhysicianName)
    assert inner.ReferencedSOPInstanceUID == out.SOPInstanceUID  # same UID, same pseudonym
    # The original is untouched.
    assert original.PatientName == PATIENT and (0x00091001 in original)
    # PS3.15 E.1.1 attributes recording what was done.
    assert out.PatientIdentityRemoved == "YES"
    assert [i.CodeValue for i in out.DeidentificationMethodCodeSequence] == ["113100"]
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    assert "Jones" not in str(out) and PATIENT_ID not in str(out) and "Smith" not in str(out)
    assert_writable(out)


def assert_writable(ds: Dataset) -> None:
    """The output is a valid object: every value passes pydicom's strict VR checks."""
    ds = copy.deepcopy(ds)
    for tag in [t for t in ds.keys() if t.group == 0]:
        del ds[tag]  # command elements cannot be stored in a file
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    mode = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.RAISE
    try:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
    finally:
        config.settings.writing_validation_mode = mode
    assert len(list(dcmread(io.BytesIO(buffer.getvalue())).iterall())) > 100


def test_compound_actions_follow_the_type_in_the_iod():
    assert resolve_action("X/Z", "ReferencedStudySequence", CT) == "X"  # Type 3
    assert resolve_action("X/D", "SeriesDate", CT) == "X"  # Type 3 in General Series
    assert resolve_action("Z/D", "ContentDate", CT) == "Z"  # Type 2C in General Image
    assert resolve_action("X/Z/D", "InstitutionName", CT) == "X"
    # Unknown IOD (here an SR): the choice that is conformant for any Type.
    sr = "1.2.840.10008.5.1.4.1.1.88.22"
    assert resolve_action("Z/D", "ContentDate", sr) == "D"
    assert resolve_action("X/Z", "ReferencedStudySequence", sr) == "Z"
    assert resolve_action("X/Z/U*", "ReferencedImageSequence", sr) == "U"
    assert resolve_action("X/Z/D", "InstitutionName", sr) == "D"


def test_pseudonyms_are_consistent_within_one_export():
    study, frame = generate_uid(), generate_uid()
    first, second = make_dataset(study, frame), make_dataset(study, frame)
    first.SeriesInstanceUID = second.SeriesInstanceUID = generate_uid()
    deid = Deidentifier(DeidentifyOptions(), salt=SALT)
    a, b = deid.deidentify(first), deid.deidentify(second)
    assert a.StudyInstanceUID == b.StudyInstanceUID != study
    assert a.SeriesInstanceUID == b.SeriesInstanceUID
    assert a.FrameOfReferenceUID == b.FrameOfReferenceUID != frame
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert a.PatientID == b.PatientID and a.PatientName == b.PatientName
    assert a.PatientID != PATIENT_ID and str(a.PatientName) != PATIENT
    # Another export (another salt) cannot be linked to this one.
    other = Deidentifier(DeidentifyOptions(), salt=b"another-salt-of-16+").deidentify(first)
    assert other.StudyInstanceUID != a.StudyInstanceUID and other.PatientID != a.PatientID


def test_uid_root_and_length():
    deid = Deidentifier(salt=SALT, uid_root="1.2.826.0.1.3680043.10.999")
    uid = deid.pseudonymous_uid("1.2.3.4")
    assert uid.startswith("1.2.826.0.1.3680043.10.999.") and len(uid) <= 64
    assert UID_RE.match(uid) and uid == deid.pseudonymous_uid("1.2.3.4")
    with pytest.raises(ValueError):
        Deidentifier(salt=SALT, uid_root="1.02.x")
    with pytest.raises(ValueError):
        Deidentifier(salt=b"short")


def _rows_of(option: str):
    return [(row, tag) for row, tag in TESTED_TAGS if option in row.options]


@pytest.mark.parametrize("option", [name for name, _, _ in OPTION_COLUMNS
                                    if name != "retain_safe_private"])
def test_each_option_column(option, original):
    options = DeidentifyOptions(**{option: True})
    deid = Deidentifier(options, salt=SALT)
    out = deid.deidentify(original)
    rows = _rows_of(option)
    assert rows, option
    for row, tag in rows:
        code = row.options[option]
        where = f"{option}: {row.tag} {row.name} ({code})"
        old = original[tag]
        if code == "X":
            assert tag not in out, where
        elif code == "K":
            assert tag in out, where
            if old.VR == "SQ":
                assert len(out[tag].value) == len(old.value), where
            else:
                assert out[tag].value == old.value, where
        else:  # C: kept, with values of similar meaning
            assert tag in out, where
            new = out[tag]
            if old.VR == "DA":
                shifted = dt.datetime.strptime(str(old.value), "%Y%m%d") - deid.date_shift
                assert new.value == shifted.strftime("%Y%m%d"), where
            elif old.VR == "DT":
                assert new.value[:8] != old.value[:8] and new.value[8:] == old.value[8:], where
            elif old.VR == "AE":
                assert new.value and new.value != old.value, where
            elif old.VR in ("LO", "LT", "ST", "UT", "SH"):
                assert "Smith" not in str(new.value), where
            elif old.VR == "SQ":
                assert len(new.value) == 1 and "Smith" not in str(new.value[0].TextValue)
    method = [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert method == ["113100", dict((n, c) for n, c, _ in OPTION_COLUMNS)[option]]
    # Attributes no option column names are treated as in the basic profile.
    for row, tag in TESTED_TAGS:
        if not row.options:
            check_basic(row, tag, _expected(row, tag, options), original, out,
                        retain_uids=options.retain_uids)
    assert_writable(out)


def test_retain_safe_private(original):
    out = Deidentifier(DeidentifyOptions(retain_safe_private=True), salt=SALT).deidentify(
        original)
    assert out[0x0019100C].value == "1000" and out[0x00190010].value == "SIEMENS MR HEADER"
    assert 0x0019100B not in out and 0x00091001 not in out and 0x00090010 not in out


def test_retain_patient_characteristics_keeps_sex_and_age(original):
    out = Deidentifier(DeidentifyOptions(retain_patient_characteristics=True),
                       salt=SALT).deidentify(original)
    assert out.PatientSex == original.PatientSex and out.PatientAge == original.PatientAge
    assert _is_empty(out.PatientBirthDate)


def test_long_dates_options_exclude_each_other():
    with pytest.raises(ValueError, match="exclude each other"):
        DeidentifyOptions(retain_long_full_dates=True, retain_long_modified_dates=True)


def _image(modality: str, sop_class: str, flag: str | None) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, generate_uid(), modality
    ds.Rows = ds.Columns = 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = b"\x00\x01\x02\x03"
    if flag is not None:
        ds.BurnedInAnnotation = flag
    return ds


def test_burned_in_annotation_is_refused_unless_allowed():
    deid = Deidentifier(salt=SALT)
    with pytest.raises(BurnedInAnnotation) as info:
        deid.deidentify(_image("CT", CT, "YES"))
    assert isinstance(info.value, Forbidden) and info.value.http_status == 403
    with pytest.raises(BurnedInAnnotation):  # ultrasound without the flag
        deid.deidentify(_image("US", "1.2.840.10008.5.1.4.1.1.6.1", None))
    with pytest.raises(BurnedInAnnotation):  # secondary capture without the flag
        deid.deidentify(_image("OT", "1.2.840.10008.5.1.4.1.1.7", None))
    with pytest.raises(BurnedInAnnotation):  # X-ray angiography without the flag
        deid.deidentify(_image("XA", "1.2.840.10008.5.1.4.1.1.12.1", None))
    assert deid.deidentify(_image("XA", "1.2.840.10008.5.1.4.1.1.12.1", "NO"))
    assert deid.deidentify(_image("US", "1.2.840.10008.5.1.4.1.1.6.1", "NO"))
    assert deid.deidentify(_image("CT", CT, None))
    allowed = Deidentifier(DeidentifyOptions(allow_burned_in=True), salt=SALT)
    assert allowed.deidentify(_image("CT", CT, "YES")).PixelData == b"\x00\x01\x02\x03"


def test_options_from_settings():
    settings = load_settings(environ={"HOUNSFIELD_DEIDENTIFY_RETAIN_UIDS": "yes"},
                             deidentify__clean_descriptions=True)
    options = DeidentifyOptions.from_settings(settings)
    assert options.retain_uids and options.clean_descriptions and not options.allow_burned_in
    assert options.enabled == ("retain_uids", "clean_descriptions")


def test_deidentify_file_writes_valid_part10(tmp_path):
    ds = _image("CT", CT, "NO")
    ds.PatientName, ds.PatientID, ds.StudyInstanceUID = PATIENT, PATIENT_ID, generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.SourceApplicationEntityTitle = "SITE_CT_7"
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    deid = Deidentifier(salt=SALT)
    data = deidentify_file(path, deid)
    assert data[128:132] == b"DICM"
    back = dcmread(io.BytesIO(data))
    assert back.SOPInstanceUID == deid.pseudonymous_uid(ds.SOPInstanceUID)
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID
    assert "SourceApplicationEntityTitle" not in back.file_meta
    assert back.PixelData == ds.PixelData and back.PatientIdentityRemoved == "YES"
    assert deidentify_file(path.read_bytes(), deid) == data  # bytes in, same result


def test_keeping_wins_over_cleaning_when_options_meet():
    from hounsfield.auth.confidentiality_profile import ProfileRow

    row = ProfileRow("(0011,0000)", "Synthetic", "X",
                     {"clean_descriptions": "C", "retain_device_identity": "K"})
    both = DeidentifyOptions(clean_descriptions=True, retain_device_identity=True)
    assert effective_action(row, both) == "K"
    assert effective_action(row, DeidentifyOptions(clean_descriptions=True)) == "C"
    assert effective_action(row, DeidentifyOptions()) == "X"
