"""Verification Service Class SCP (PS3.4 Annex A)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import dimse as D
from ..association import Message

if TYPE_CHECKING:
    from ..association import Association


async def c_echo(assoc: "Association", message: Message) -> None:
    """Answer C-ECHO-RQ with Success (PS3.7 9.1.5)."""
    await assoc.send_response(message.command, message.context, D.SUCCESS)
