"""The state table of the upper layer against PS3.8 Table 9-10."""

from __future__ import annotations

import pytest

from hounsfield.dicom.dul import STATES, TRANSITIONS

PDU_EVENTS = ("Evt3", "Evt4", "Evt6", "Evt10", "Evt12", "Evt13", "Evt16", "Evt19")


@pytest.mark.parametrize("event,state,action", [
    ("Evt1", "Sta1", "AE-1"), ("Evt2", "Sta4", "AE-2"), ("Evt3", "Sta5", "AE-3"),
    ("Evt4", "Sta5", "AE-4"), ("Evt5", "Sta1", "AE-5"), ("Evt6", "Sta2", "AE-6"),
    ("Evt7", "Sta3", "AE-7"), ("Evt8", "Sta3", "AE-8"), ("Evt9", "Sta6", "DT-1"),
    ("Evt9", "Sta8", "AR-7"), ("Evt10", "Sta6", "DT-2"), ("Evt10", "Sta7", "AR-6"),
    ("Evt11", "Sta6", "AR-1"), ("Evt12", "Sta6", "AR-2"), ("Evt12", "Sta7", "AR-8"),
    ("Evt13", "Sta7", "AR-3"), ("Evt13", "Sta10", "AR-10"), ("Evt13", "Sta11", "AR-3"),
    ("Evt14", "Sta8", "AR-4"), ("Evt14", "Sta9", "AR-9"), ("Evt14", "Sta12", "AR-4"),
    ("Evt15", "Sta4", "AA-2"), ("Evt15", "Sta6", "AA-1"), ("Evt16", "Sta2", "AA-2"),
    ("Evt16", "Sta6", "AA-3"), ("Evt16", "Sta13", "AA-2"), ("Evt17", "Sta2", "AA-5"),
    ("Evt17", "Sta6", "AA-4"), ("Evt17", "Sta13", "AR-5"), ("Evt18", "Sta2", "AA-2"),
    ("Evt18", "Sta13", "AA-2"), ("Evt19", "Sta2", "AA-1"), ("Evt19", "Sta6", "AA-8"),
    ("Evt19", "Sta13", "AA-7"), ("Evt3", "Sta2", "AA-1"), ("Evt3", "Sta6", "AA-8"),
    ("Evt3", "Sta13", "AA-6"), ("Evt6", "Sta13", "AA-7"), ("Evt10", "Sta13", "AA-6"),
    ("Evt13", "Sta6", "AA-8"), ("Evt12", "Sta8", "AA-8"),
])
def test_transitions_of_the_standard(event: str, state: str, action: str) -> None:
    assert TRANSITIONS[(event, state)] == action


def test_every_received_pdu_has_an_action_once_connected() -> None:
    for event in PDU_EVENTS:
        for state in STATES:
            if state in ("Sta1", "Sta4"):
                continue
            assert (event, state) in TRANSITIONS, f"{event} in {state} has no action"


def test_local_primitives_are_only_valid_where_the_standard_allows() -> None:
    assert {s for (e, s) in TRANSITIONS if e == "Evt9"} == {"Sta6", "Sta8"}
    assert {s for (e, s) in TRANSITIONS if e == "Evt11"} == {"Sta6"}
    assert {s for (e, s) in TRANSITIONS if e == "Evt14"} == {"Sta8", "Sta9", "Sta12"}
