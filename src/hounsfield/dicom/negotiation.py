"""Association negotiation as acceptor (PS3.8 7.1, PS3.7 D.3.3).

Turns an A-ASSOCIATE-RQ into an A-ASSOCIATE-AC or -RJ from the settings: which calling AE
may use which service, the transfer syntax preference, role selection and extended
negotiation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hounsfield import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

from . import pdu as P
from .association import AcceptedContext
from .sop_classes import QUERY_RETRIEVE, QUERY_TRANSFER_SYNTAXES, is_transfer_syntax, \
    service_kind

# SOP class extended negotiation replies (PS3.4 B.3.1, C.3.1): storage level 2, no
# coercion of elements (we keep the bytes as received); query: no optional features.
STORAGE_EXTENDED_REPLY = bytes((2, 0, 0, 0, 0, 0))
FIND_EXTENDED_REPLY = bytes((0, 0, 0))
RETRIEVE_EXTENDED_REPLY = bytes((0,))


@dataclass
class Policy:
    """What the acceptor accepts; built from ``dicom.*`` settings (see ``server.py``)."""

    ae_title: str = "HOUNSFIELD"
    check_called_ae_title: bool = False
    max_pdu_length: int = 262144
    transfer_syntax_preference: list[str] = field(default_factory=lambda: list(
        QUERY_TRANSFER_SYNTAXES))
    accept_all_transfer_syntaxes: bool = True
    accept_unknown_sop_classes: bool = True
    allow: dict[str, list[str]] = field(default_factory=dict)  # kind -> calling AEs or "*"

    def allows(self, kind: str, calling_ae_title: str) -> bool:
        allowed = self.allow.get(kind, ["*"])
        return "*" in allowed or calling_ae_title.strip() in allowed


def _choose_transfer_syntax(kind: str, offered: list[str], policy: Policy) -> str | None:
    if kind != "store":
        for ts in policy.transfer_syntax_preference:
            if ts in offered and ts in QUERY_TRANSFER_SYNTAXES:
                return ts
        return next((ts for ts in offered if ts in QUERY_TRANSFER_SYNTAXES), None)
    for ts in policy.transfer_syntax_preference:
        if ts in offered:
            return ts
    if policy.accept_all_transfer_syntaxes:
        # We keep the original bytes, so anything pydicom can parse the header of is fine.
        return next((ts for ts in offered if is_transfer_syntax(ts)), None)
    return None


def negotiate(rq: P.AAssociateRQ, policy: Policy
              ) -> tuple[P.AAssociateAC | P.AAssociateRJ, list[AcceptedContext]]:
    """The answer to ``rq`` and the contexts it accepts."""
    if not rq.protocol_version & 1:  # PS3.8 9.3.2: bit 0 is version 1
        return P.AAssociateRJ(P.RJ_RESULT_PERMANENT, P.RJ_SOURCE_ACSE,
                              P.RJ_ACSE_PROTOCOL_VERSION), []
    if rq.application_context_name != P.APPLICATION_CONTEXT_NAME:
        return P.AAssociateRJ(P.RJ_RESULT_PERMANENT, P.RJ_SOURCE_USER,
                              P.RJ_USER_APPLICATION_CONTEXT), []
    if policy.check_called_ae_title and rq.called_ae_title.strip() != policy.ae_title:
        return P.AAssociateRJ(P.RJ_RESULT_PERMANENT, P.RJ_SOURCE_USER, P.RJ_USER_CALLED_AE), []

    ui = rq.user_information
    roles = {r.sop_class_uid: r for r in ui.role_selections}
    calling = rq.calling_ae_title.strip()
    results: list[P.PresentationContextAC] = []
    accepted: list[AcceptedContext] = []
    reply_roles: dict[str, P.RoleSelection] = {}
    for pc in rq.presentation_contexts:
        kind = service_kind(pc.abstract_syntax, policy.accept_unknown_sop_classes)
        if kind is None:
            results.append(P.PresentationContextAC(pc.context_id,
                                                   P.PC_ABSTRACT_SYNTAX_NOT_SUPPORTED))
            continue
        requestor_scu, requestor_scp = True, False
        proposed = roles.get(pc.abstract_syntax)
        if proposed is not None:
            # PS3.7 D.3.3.4: the requestor may also be SCP only for storage (C-GET).
            requestor_scu = proposed.scu_role
            requestor_scp = proposed.scp_role and kind == "store"
            reply_roles[pc.abstract_syntax] = P.RoleSelection(pc.abstract_syntax,
                                                              requestor_scu, requestor_scp)
        permitted = (requestor_scu and policy.allows(kind, calling)) or \
            (requestor_scp and policy.allows("get", calling))
        if not permitted:
            results.append(P.PresentationContextAC(pc.context_id, P.PC_USER_REJECTION))
            continue
        ts = _choose_transfer_syntax(kind, pc.transfer_syntaxes, policy)
        if ts is None:
            results.append(P.PresentationContextAC(pc.context_id,
                                                   P.PC_TRANSFER_SYNTAXES_NOT_SUPPORTED))
            continue
        results.append(P.PresentationContextAC(pc.context_id, P.PC_ACCEPTANCE, ts))
        accepted.append(AcceptedContext(pc.context_id, pc.abstract_syntax, ts, requestor_scu,
                                        requestor_scp))

    reply = P.UserInformation(max_length=policy.max_pdu_length,
                              implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                              implementation_version_name=IMPLEMENTATION_VERSION_NAME)
    if ui.asynchronous_operations_window is not None:
        reply.asynchronous_operations_window = (1, 1)  # one operation at a time
    accepted_uids = {ctx.abstract_syntax for ctx in accepted}
    reply.role_selections = [r for uid, r in reply_roles.items() if uid in accepted_uids]
    for ext in ui.extended_negotiations:
        if ext.sop_class_uid not in accepted_uids:
            continue
        kind = QUERY_RETRIEVE.get(ext.sop_class_uid, ("store", ""))[0]
        info = {"store": STORAGE_EXTENDED_REPLY, "find": FIND_EXTENDED_REPLY}.get(
            kind, RETRIEVE_EXTENDED_REPLY)
        reply.extended_negotiations.append(P.SOPClassExtendedNegotiation(ext.sop_class_uid,
                                                                         info))
    ac = P.AAssociateAC(rq.called_ae_title, rq.calling_ae_title, results, reply)
    return ac, accepted
