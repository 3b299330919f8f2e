"""Patient names and study texts are stored in the patient's character set and decode
back to the same Unicode (PS3.5 6.1 and Annexes H, I, J)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydicom import Dataset
from pydicom.multival import MultiValue

from hounsfield.demo import demo_patients, demo_studies, encapsulated_pdf, to_bytes

RoundTrip = Callable[[Dataset], Dataset]

ESC = b"\x1b"
# The exact bytes of PS3.5 Annex H (Japanese) and Annex I (Korean) examples.
EXPECTED_NAME_BYTES = {
    "ISO_IR 100": "Müller^Jürgen".encode("latin-1"),
    "\\ISO 2022 IR 87": (b"Yamada^Tarou=" + ESC + b"$B;3ED" + ESC + b"(B^" + ESC + b"$BB@O:"
                         + ESC + b"(B=" + ESC + b"$B$d$^$@" + ESC + b"(B^" + ESC
                         + b"$B$?$m$&" + ESC + b"(B"),
    "\\ISO 2022 IR 149": (b"Hong^Gildong=" + ESC + b"$)C\xfb\xf3^" + ESC + b"$)C\xd1\xce\xd4"
                          b"\xd7=" + ESC + b"$)C\xc8\xab^" + ESC + b"$)C\xb1\xe6\xb5\xbf"),
    "GB18030": "Wang^XiaoDong=王^小东".encode("gb18030"),
    "ISO_IR 192": "Παπαδοπούλου^Ελένη".encode("utf-8"),
}


def test_demo_patients_cover_the_required_character_sets() -> None:
    sets = {p.specific_character_set for p in demo_patients()}
    assert {"", "ISO_IR 100", "ISO_IR 192", "\\ISO 2022 IR 87", "\\ISO 2022 IR 149",
            "GB18030"} <= sets
    names = {p.name for p in demo_patients()}
    assert "Yamada^Tarou=山田^太郎=やまだ^たろう" in names
    assert "Hong^Gildong=洪^吉洞=홍^길동" in names
    assert len(demo_patients()) >= 6


@pytest.mark.parametrize("character_set", sorted(EXPECTED_NAME_BYTES))
def test_name_is_stored_in_its_character_set(character_set: str) -> None:
    patient = next(p for p in demo_patients() if p.specific_character_set == character_set)
    study = next(s for p, s in demo_studies() if p == patient)
    data = to_bytes(encapsulated_pdf(patient, study))
    expected = EXPECTED_NAME_BYTES[character_set]
    # Patient's Name (0010,0010), explicit VR "PN", 2-byte length, value padded to even length.
    length = len(expected) + len(expected) % 2
    header = b"\x10\x00\x10\x00PN" + length.to_bytes(2, "little")
    assert header + expected in data


@pytest.mark.parametrize("index", range(len(demo_studies())))
def test_texts_decode_back_to_the_original_unicode(index: int,
                                                   round_trip: RoundTrip) -> None:
    patient, study = demo_studies()[index]
    back = round_trip(encapsulated_pdf(patient, study))
    assert str(back.PatientName) == patient.name
    assert str(back.ReferringPhysicianName) == study.referring_physician_name
    assert back.StudyDescription == study.study_description
    assert back.InstitutionName == study.institution_name
    expected_set = patient.specific_character_set.split("\\")
    if patient.specific_character_set:
        stored = back.SpecificCharacterSet
        assert (list(stored) if isinstance(stored, MultiValue) else [stored]) == expected_set
    else:
        assert "SpecificCharacterSet" not in back
