"""The demo data set (a small archive's worth of varied studies) and the small-instance
corpus used by load tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from hounsfield.demo.common import demo_uid, rng_for, years_before
from hounsfield.demo.files import write
from hounsfield.demo.generator import (
    cr_image,
    ct_slice,
    ct_volume,
    encapsulated_pdf,
    mr_series,
    mr_slice,
    secondary_capture,
    us_multiframe,
    xa_multiframe,
)
from hounsfield.demo.patients import Patient, Study, demo_patients


def demo_studies(seed: int = 0) -> list[tuple[Patient, Study]]:
    """Return the demo studies with their patients, dated across 2019 to 2025."""
    p = demo_patients(seed)
    doe, muller, yamada, hong, wang, papadopoulou, smith, obrien = p
    general = "Hounsfield General Hospital"
    return [
        (doe, Study.create(doe, "20250314", "CT CHEST", seed=seed, number=3,
                           study_time="091512", referring_physician_name="House^Gregory",
                           institution_name=general)),
        (doe, Study.create(doe, years_before("20250314", 2, 27), "CT CHEST", seed=seed,
                           number=2, study_time="143001",
                           referring_physician_name="House^Gregory", institution_name=general)),
        (doe, Study.create(doe, years_before("20250314", 4, 55), "CT CHEST", seed=seed,
                           number=1, study_time="101500",
                           referring_physician_name="Cuddy^Lisa", institution_name=general)),
        (muller, Study.create(muller, "20220907", "MRT Schädel nativ", seed=seed,
                              study_time="073000", referring_physician_name="Schäfer^Björn",
                              institution_name="Universitätsklinikum Nord")),
        (yamada, Study.create(yamada, "20190611", "胸部単純Ｘ線", seed=seed,
                              study_time="110000",
                              referring_physician_name="Sato^Hanako=佐藤^花子",
                              institution_name="東京中央病院")),
        (hong, Study.create(hong, "20240220", "심장 초음파", seed=seed, study_time="153000",
                            referring_physician_name="Kim^Minsu=金^敏洙=김^민수",
                            institution_name="서울중앙병원")),
        (wang, Study.create(wang, "20201015", "冠状动脉造影", seed=seed, study_time="084500",
                            referring_physician_name="Li^Wei=李^伟",
                            institution_name="北京协和医院")),
        (papadopoulou, Study.create(papadopoulou, "20250102", "MRI εγκεφάλου", seed=seed,
                                    study_time="120000",
                                    referring_physician_name="Νικολάου^Γιώργος",
                                    institution_name="Γενικό Νοσοκομείο Αθηνών")),
        (smith, Study.create(smith, "20230505", "CHEST PA", seed=seed, study_time="161500",
                             referring_physician_name="Grey^Meredith",
                             institution_name=general)),
        (obrien, Study.create(obrien, "20210318", "ECHO TTE", seed=seed, study_time="093000",
                              referring_physician_name="Ó Súilleabháin^Pádraig",
                              institution_name="St. Brigid's Hospital")),
    ]


def demo_dataset(seed: int = 0) -> Iterator[Dataset]:
    """Yield every object of the demo set: a 220-slice 512 x 512 chest CT with two
    smaller priors years apart, head MR series, chest radiographs, cine ultrasound, an
    angiography run, secondary captures and PDF reports, across 8 patients."""
    studies = demo_studies(seed)
    (doe, ct_now), (_, ct_prior), (_, ct_first) = studies[0:3]
    yield from ct_volume(doe, ct_now, seed=seed, series_description="CT CHEST 1.25mm")
    yield secondary_capture(doe, ct_now, seed=seed)
    yield encapsulated_pdf(doe, ct_now, seed=seed, title="CT Chest report")
    yield from ct_volume(doe, ct_prior, slices=56, rows=256, columns=256, slice_thickness=5.0,
                         seed=seed, signed=True, lesion_scale=0.7,
                         series_description="CT CHEST 5mm")
    yield from ct_volume(doe, ct_first, slices=56, rows=256, columns=256,
                         slice_thickness=5.0, seed=seed, lesion_scale=0.4,
                         series_description="CT CHEST 5mm")
    muller, head = studies[3]
    yield from mr_series(muller, head, seed=seed)
    yield encapsulated_pdf(muller, head, seed=seed, title="MRT Befund")
    yamada, chest = studies[4]
    yield cr_image(yamada, chest, seed=seed)
    hong, echo = studies[5]
    yield us_multiframe(hong, echo, seed=seed)
    wang, angio = studies[6]
    yield xa_multiframe(wang, angio, seed=seed)
    papadopoulou, brain = studies[7]
    yield from mr_series(papadopoulou, brain, slices=12, seed=seed, series_number=2)
    yield secondary_capture(papadopoulou, brain, seed=seed)
    smith, radiograph = studies[8]
    yield cr_image(smith, radiograph, rows=1250, columns=1024, seed=seed)
    yield encapsulated_pdf(smith, radiograph, seed=seed)
    obrien, tte = studies[9]
    yield us_multiframe(obrien, tte, frames=12, transfer_syntax=ExplicitVRLittleEndian,
                        seed=seed)


def instance_path(ds: Dataset) -> Path:
    """Relative path of an instance in a written demo folder:
    PatientID/StudyDate_Accession/SeriesNumber_Modality/InstanceNumber.dcm."""
    return (Path(str(ds.PatientID)) / f"{ds.StudyDate}_{ds.AccessionNumber}"
            / f"{int(ds.SeriesNumber):03d}_{ds.Modality}" / f"{int(ds.InstanceNumber):04d}.dcm")


def write_demo(folder: str | Path, seed: int = 0) -> int:
    """Write the demo set as Part 10 files under ``folder``; return the number written."""
    count = 0
    for ds in demo_dataset(seed):
        write(ds, Path(folder) / instance_path(ds))
        count += 1
    return count


_SURNAMES = (
    "Abbott", "Baker", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen",
    "Ivanova", "Jensen", "Kowalski", "Larsen", "Martin", "Nakamura", "Olsen", "Petrov",
    "Quinn", "Rossi", "Schmidt", "Tanaka", "Ueda", "Vasquez", "Weber", "Xu", "Young",
    "Zimmermann", "Andersson", "Bianchi", "Costa", "Dimitrov", "Evans", "Ferrari", "Gomez",
    "Horvat", "Ito", "Johansson", "Kim", "Lopez", "Moreau", "Novak", "Ortiz", "Park",
    "Quintero", "Ramos", "Silva", "Torres", "Urban", "Varga", "Wilson", "Yilmaz",
)
_GIVEN = (
    ("Anna", "F"), ("Bruno", "M"), ("Clara", "F"), ("David", "M"), ("Elena", "F"),
    ("Felix", "M"), ("Greta", "F"), ("Hugo", "M"), ("Ines", "F"), ("Jonas", "M"),
    ("Karin", "F"), ("Leon", "M"), ("Maria", "F"), ("Nils", "M"), ("Olga", "F"),
    ("Pablo", "M"), ("Rosa", "F"), ("Simon", "M"), ("Tina", "F"), ("Umberto", "M"),
    ("Vera", "F"), ("Walter", "M"), ("Yara", "F"), ("Zeno", "M"), ("Alice", "F"),
    ("Boris", "M"), ("Chloe", "F"), ("Dario", "M"), ("Emma", "F"), ("Fabio", "M"),
    ("Hanna", "F"), ("Igor", "M"), ("Julia", "F"), ("Karl", "M"), ("Lena", "F"),
    ("Marco", "M"), ("Nora", "F"), ("Oskar", "M"), ("Paula", "F"), ("Rafael", "M"),
)
_DESCRIPTIONS = ("CT CHEST", "MR BRAIN", "CT ABDOMEN", "MR KNEE", "CT HEAD", "MR SPINE")


def small_patient(index: int, seed: int = 0) -> Patient:
    """Return corpus patient ``index``: names are distinct for every index, and surnames
    start with many letters, so name-prefix searches select meaningful subsets."""
    s, g = len(_SURNAMES), len(_GIVEN)
    surname = _SURNAMES[index % s]
    # (index mod 50, (11 * (index // 50) + index) mod 40) is one-to-one below 2000.
    block = index // s
    given, sex = _GIVEN[(11 * (block % g) + index) % g]
    name = f"{surname}^{given}"
    if index >= s * g:
        name += "^" + _letters(index // (s * g))
    rng = rng_for("small-patient", seed, index)
    birth = f"{1930 + int(rng.integers(0, 85))}{int(rng.integers(1, 13)):02d}" \
            f"{int(rng.integers(1, 29)):02d}"
    return Patient(name, f"S{seed}P{index:07d}", birth, sex)


def _letters(number: int) -> str:
    """Spell a positive number with letters (1 -> A, 27 -> AA) for middle names."""
    out = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out


def small_instance(i: int, *, patients: int = 100, studies_per_patient: int = 2,
                   series_per_study: int = 2, seed: int = 0, rows: int = 64,
                   columns: int = 64) -> Dataset:
    """Return instance ``i`` of a corpus spread round-robin over ``patients`` x
    ``studies_per_patient`` x ``series_per_study`` series: a small uint16 slice, CT in
    even-numbered series and MR in odd ones."""
    if min(patients, studies_per_patient, series_per_study) < 1 or i < 0:
        raise ValueError("Arguments \"patients\", \"studies_per_patient\" and "
                         "\"series_per_study\" must be positive and \"i\" not negative")
    series_total = patients * studies_per_patient * series_per_study
    series_index, instance_number = i % series_total, i // series_total + 1
    # Patients vary fastest, so the first instances already cover many patients.
    p = series_index % patients
    s = (series_index // patients) % studies_per_patient
    r = series_index // (patients * studies_per_patient)
    patient = small_patient(p, seed)
    year = 2012 + (p * 3 + s * 5) % 14
    study = Study.create(patient, f"{year}{1 + (p + s) % 12:02d}{1 + (p * 7 + s) % 28:02d}",
                         _DESCRIPTIONS[(p + s) % len(_DESCRIPTIONS)], seed=seed, number=s + 1,
                         study_time=f"{8 + (p + s) % 10:02d}{(p * 13) % 60:02d}00",
                         referring_physician_name="Referrer^Default",
                         institution_name="Hounsfield General Hospital")
    series_uid = demo_uid("series", seed, study.study_instance_uid, r + 1, "small")
    frame_of_reference = demo_uid("frame-of-reference", seed, study.study_instance_uid, r + 1)
    rng = rng_for("small", seed, i)
    if r % 2 == 0:
        thickness = 2.5
        z = 100.0 - (instance_number - 1) * thickness
        return ct_slice(patient, study, series_uid=series_uid,
                        frame_of_reference_uid=frame_of_reference,
                        instance_number=instance_number, z=z, rows=rows, columns=columns,
                        pixel_spacing=400.0 / columns, slice_thickness=thickness, rng=rng,
                        series_number=r + 1, series_description=f"CT {r + 1}")
    thickness = 4.0
    z = 60.0 - (instance_number - 1) * thickness
    return mr_slice(patient, study, series_uid=series_uid,
                    frame_of_reference_uid=frame_of_reference, instance_number=instance_number,
                    z=z, rows=rows, columns=columns, pixel_spacing=240.0 / columns,
                    slice_thickness=thickness, slice_spacing=thickness, rng=rng,
                    series_number=r + 1, series_description=f"MR {r + 1}")


def small_corpus(count: int, patients: int = 100, studies_per_patient: int = 2,
                 series_per_study: int = 2, *, seed: int = 0, rows: int = 64,
                 columns: int = 64) -> Iterator[Dataset]:
    """Yield ``count`` small instances spread over patients, studies and series."""
    for i in range(count):
        yield small_instance(i, patients=patients, studies_per_patient=studies_per_patient,
                             series_per_study=series_per_study, seed=seed, rows=rows,
                             columns=columns)
