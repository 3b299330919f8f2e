"""The DICOM server: listens (plain and TLS), accepts associations, serves the services."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any

from hounsfield.archive.access import Scope
from hounsfield.auth.accounts import User
from hounsfield.auth.credentials import LockedOut
from hounsfield.auth.dicom_identity import authenticate_user_identity, user_scope
from hounsfield.auth.tokens import TOKEN_PREFIX
from hounsfield.config import Settings
from hounsfield.errors import Unauthorized

from . import pdu as P
from .association import Association
from .dul import UpperLayer
from .negotiation import Policy, negotiate
from .services import Services
from .services.storage import StoreTally
from .tls import server_ssl_context

log = logging.getLogger("hounsfield.dicom.server")


def policy_from_settings(settings: Settings) -> Policy:
    return Policy(
        ae_title=settings["dicom.ae_title"],
        check_called_ae_title=settings["dicom.check_called_ae_title"],
        max_pdu_length=settings["dicom.max_pdu_length"],
        transfer_syntax_preference=list(settings["dicom.transfer_syntax_preference"]),
        accept_all_transfer_syntaxes=settings["dicom.accept_all_transfer_syntaxes"],
        accept_unknown_sop_classes=settings["ingest.accept_unknown_sop_classes"],
        allow={kind: list(settings[f"dicom.allow_{kind}"])
               for kind in ("echo", "store", "find", "get", "move")},
    )


class ServerAssociation(Association):
    """An association we accepted."""

    def __init__(self, server: "DicomServer", peer_address: str) -> None:
        super().__init__(requestor=False, ae_title=server.policy.ae_title,
                         max_pdu_length=server.policy.max_pdu_length, handler=server.services)
        self.server = server
        self.peer_address = peer_address
        self.store_tally = StoreTally()
        self.opened_at = time.time()

    async def on_associate_request(self, rq: P.AAssociateRQ) -> P.AAssociateAC | P.AAssociateRJ:
        self.calling_ae_title = rq.calling_ae_title.strip()
        self.called_ae_title = rq.called_ae_title.strip()
        self.peer_user_information = rq.user_information
        if self.server.established >= self.server.settings["dicom.max_associations"]:
            log.warning("Rejecting %s: %d associations already", self.calling_ae_title,
                        self.server.established)
            return P.AAssociateRJ(P.RJ_RESULT_TRANSIENT, P.RJ_SOURCE_PRESENTATION,
                                  P.RJ_PRESENTATION_LIMIT)
        response, accepted = negotiate(rq, self.server.policy)
        if isinstance(response, P.AAssociateAC):
            refusal = await self._identify(rq, response)
            if refusal is not None:
                return refusal
            self.contexts = {ctx.context_id: ctx for ctx in accepted}
            self.server.established += 1
            self._counted = True
            log.info("Association from %s (%s) to %s: %d of %d contexts accepted",
                     self.calling_ae_title, self.peer_address, self.called_ae_title,
                     len(accepted), len(rq.presentation_contexts))
        else:
            log.info("Association from %s rejected: %s", self.calling_ae_title, response)
        return response

    async def _identify(self, rq: P.AAssociateRQ, ac: P.AAssociateAC) -> P.AAssociateRJ | None:
        """User Identity Negotiation (PS3.7 D.3.3.7): a given identity is checked against
        the accounts; a wrong one, or none when ``dicom.require_user_identity`` is on,
        rejects the association (rejected-permanent, ACSE, no-reason-given, as D.3.3.7
        says; transient while the account is locked). Both outcomes are audited as a
        ``login``, like a login to the web interface."""
        identity = rq.user_information.user_identity_rq
        if identity is None and not self.server.settings["dicom.require_user_identity"]:
            return None
        details: dict[str, Any] = {"service": "A-ASSOCIATE",
                                   "called_ae_title": self.called_ae_title}
        try:
            if identity is None:
                raise Unauthorized("This server requires a DICOM user identity.")
            self.user, self.scope = await self.server.identify(
                identity.user_identity_type, identity.primary_field, identity.secondary_field,
                self.peer_host or "")
        except Exception as exc:
            if not isinstance(exc, Unauthorized):
                log.exception("Checking the user identity of %s failed", self.calling_ae_title)
            details["reason"] = str(exc)[:500]
            name = None  # no identity: the calling AE title is who
            if identity is not None:
                name = identity.primary_field.decode("utf-8", "replace")[:64]
                details["user_identity_type"] = identity.user_identity_type
            log.warning("Association from %s (%s) rejected: user identity %r refused: %s",
                        self.calling_ae_title, self.peer_address, name, exc)
            self.server.services.audit.record(self, "login", "failure", user=name,
                                              details=details)
            permanent = isinstance(exc, Unauthorized) and not isinstance(exc, LockedOut)
            return P.AAssociateRJ(P.RJ_RESULT_PERMANENT if permanent else P.RJ_RESULT_TRANSIENT,
                                  P.RJ_SOURCE_ACSE, P.RJ_ACSE_NO_REASON)
        details["method"] = "token" if identity.secondary_field.startswith(
            TOKEN_PREFIX.encode()) else "password"
        self.server.services.audit.record(self, "login", "success", details=details)
        if identity.positive_response_requested:
            # PS3.7 D.3.3.7.2: the server response is empty for types 1 and 2.
            ac.user_information.user_identity_ac = P.UserIdentityAC(b"")
        return None

    _counted = False

    def on_closed(self, aborted: bool, reason: str) -> None:
        if self._counted:
            self._counted = False
            self.server.established -= 1
        super().on_closed(aborted, reason)


class DicomServer:
    """``await start()`` binds ``dicom.host``/``dicom.port`` (and ``dicom.tls_port`` when
    TLS is on); port 0 takes a free port, exposed as :attr:`port` / :attr:`tls_port`."""

    def __init__(self, settings: Settings, archive: Any = None, *,
                 ssl_context: ssl.SSLContext | None = None, pool: Any = None,
                 audit: Any = None) -> None:
        """``pool``: the imaging ``RenderPool`` that decompresses objects a C-MOVE/C-GET
        peer cannot take as stored (without one, a thread does it). ``audit``: the
        server's ``AuditTrail`` (auth/audit.py) for search, retrieve and store events."""
        if settings["dicom.max_pdu_length"] <= 0:
            raise ValueError("Setting 'dicom.max_pdu_length' must be a positive number of "
                             "bytes; received PDUs are bounded by it")
        self.settings = settings
        self.archive = archive
        self.policy = policy_from_settings(settings)
        self.services = Services(settings, archive, pool, audit)
        self.ssl_context = ssl_context
        self.port: int | None = None
        self.tls_port: int | None = None
        self.established = 0
        self._servers: list[asyncio.base_events.Server] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._associations: set[ServerAssociation] = set()

    async def start(self) -> None:
        host = self.settings["dicom.host"]
        limit = 2 * self.settings["dicom.max_pdu_length"] + 64
        if self.settings["dicom.enabled"]:
            server = await asyncio.start_server(self._on_connection, host,
                                                self.settings["dicom.port"], limit=limit)
            self._servers.append(server)
            self.port = server.sockets[0].getsockname()[1]
            log.info("DICOM server %s listening on %s:%s", self.policy.ae_title, host, self.port)
        context = self.ssl_context
        if context is None and self.settings["dicom.tls_enabled"]:
            context = server_ssl_context(self.settings)
        if context is not None:
            server = await asyncio.start_server(self._on_connection, host,
                                                self.settings["dicom.tls_port"], ssl=context,
                                                limit=limit)
            self._servers.append(server)
            self.tls_port = server.sockets[0].getsockname()[1]
            log.info("DICOM TLS server listening on %s:%s", host, self.tls_port)

    async def stop(self) -> None:
        """Stop listening and abort the associations still open."""
        for server in self._servers:
            server.close()
        for assoc in list(self._associations):
            try:
                await assoc.abort()
            except Exception:
                log.exception("Aborting an association failed")
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5)
        await self.services.audit.drain()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def identify(self, identity_type: int, primary: bytes, secondary: bytes,
                       remote_address: str) -> tuple[User, Scope | None]:
        """The user a User Identity proves and, with ``auth.enabled``, the studies it may
        see; the password hash and the database run in the archive's threads."""
        if self.archive is None:
            raise Unauthorized("No user accounts behind this server.")
        db = self.archive.core.db
        user = await self.archive.run(authenticate_user_identity, db, self.settings,
                                      identity_type, primary, secondary, remote_address)
        if not self.settings["auth.enabled"]:
            return user, None
        return user, await self.archive.run(user_scope, db, user)

    def associations(self) -> list[dict[str, Any]]:
        """The connections being served, for status pages: who, from where, since when."""
        out = []
        for assoc in self._associations:
            state = assoc.dul.state if assoc.dul is not None else "Sta1"
            out.append({"calling_ae_title": assoc.calling_ae_title,
                        "called_ae_title": assoc.called_ae_title,
                        "remote_address": assoc.peer_address, "state": state,
                        "user": assoc.user.username if assoc.user is not None else None,
                        "established": state == "Sta6", "opened_at": assoc.opened_at,
                        "operations": len(assoc.operations),
                        "stored": assoc.store_tally.stored})
        return sorted(out, key=lambda a: a["opened_at"])

    async def __aenter__(self) -> "DicomServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _on_connection(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= 2 * self.settings["dicom.max_associations"] + 8:
            # Connections that never associate are bounded too (ARTIM only limits how long).
            log.warning("Too many open connections; closing a new one at once")
            writer.close()
            return
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        assoc = ServerAssociation(self, f"{peer[0]}:{peer[1]}" if peer else "")
        self._associations.add(assoc)
        try:
            assoc.dul = UpperLayer(
                reader, writer, assoc, requestor=False,
                max_pdu_length=self.settings["dicom.max_pdu_length"],
                artim_timeout=self.settings["dicom.artim_timeout"],
                idle_timeout=self.settings["dicom.idle_timeout"],
                network_timeout=self.settings["dicom.network_timeout"])
            await assoc.dul.run()
        except Exception:
            log.exception("Association with %s failed", assoc.peer_address)
        finally:
            await assoc.cleanup()
            self.services.association_ended(assoc)
            self._associations.discard(assoc)
            self._connections.discard(task)
            if not writer.is_closing():
                writer.close()
