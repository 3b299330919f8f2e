"""docs/conformance.md is generated from the code's tables and must be up to date."""

from __future__ import annotations

from pathlib import Path

from hounsfield.dicom.conformance import render
from hounsfield.dicom.negotiation import Policy, negotiate
from hounsfield.dicom import pdu as P
from hounsfield.dicom.sop_classes import storage_sop_classes

DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


def test_conformance_statement_is_up_to_date() -> None:
    assert DOC.read_text() == render(), (
        "docs/conformance.md is out of date: run "
        "`python -m hounsfield.dicom.conformance > docs/conformance.md`")


def test_every_listed_storage_class_is_accepted_with_every_listed_syntax() -> None:
    text = render()
    contexts = [P.PresentationContextRQ(2 * i + 1, uid, ["1.2.840.10008.1.2.4.50"])
                for i, uid in enumerate(list(storage_sop_classes())[:120])]
    ac, accepted = negotiate(P.AAssociateRQ("HOUNSFIELD", "X", contexts), Policy())
    assert isinstance(ac, P.AAssociateAC) and len(accepted) == 120
    assert all(f"`{ctx.abstract_syntax}`" in text for ctx in accepted)
