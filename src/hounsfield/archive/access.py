"""Study-level access: which studies the caller of an archive operation may see.

The security layer resolves a user's rights into a ``Scope`` and sets it for the request
(``current_scope``); the archive applies it in every search and retrieval, so no protocol
handler can forget it. ``None`` means unrestricted (the archive itself, the command line,
DICOM peers that passed the AE checks).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, exists, false, or_, select

from hounsfield.index.schema import series, studies


@dataclass(frozen=True)
class Scope:
    """The studies one caller may see: any study matching one of these grants."""

    referring_physician_names: frozenset[str] = field(default_factory=frozenset)  # upper-cased
    institution_names: frozenset[str] = field(default_factory=frozenset)
    source_ae_titles: frozenset[str] = field(default_factory=frozenset)
    study_instance_uids: frozenset[str] = field(default_factory=frozenset)

    def condition(self) -> ColumnElement[bool]:
        """SQL condition on ``studies`` that holds for the studies in scope."""
        conds: list[Any] = []
        if self.referring_physician_names:
            conds.append(studies.c.referring_physician_name_search.in_(
                sorted(self.referring_physician_names)))
        if self.institution_names:
            conds.append(studies.c.institution_name.in_(sorted(self.institution_names)))
        if self.study_instance_uids:
            conds.append(studies.c.study_instance_uid.in_(sorted(self.study_instance_uids)))
        if self.source_ae_titles:
            conds.append(exists(select(series.c.id).where(
                series.c.study_pk == studies.c.id,
                series.c.source_ae_title.in_(sorted(self.source_ae_titles)))))
        return or_(*conds) if conds else false()


current_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "hounsfield_scope", default=None)
