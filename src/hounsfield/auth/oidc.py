"""OpenID Connect login (authorization code flow with PKCE, OpenID Connect Core 1.0 §3.1).

The provider is found from ``auth.oidc_issuer`` (its ``/.well-known/openid-configuration``);
the ID token's signature is checked against the provider's JWKS, and its ``iss``, ``aud``,
``exp`` and ``nonce`` against what we sent. The user named by the claim
``auth.oidc_username_claim`` must exist here and be enabled: the provider proves who the
person is. What he or she may do is said by Hounsfield's own accounts, or, with
``auth.oidc_role_map`` set, by the provider's roles or groups (``auth.oidc_roles_claim``),
mapped to Hounsfield roles at every login.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hounsfield.auth.accounts import check_roles
from hounsfield.config import ConfigError, Settings
from hounsfield.errors import Forbidden, InvalidRequest, NotFound, Unauthorized

__all__ = ["OidcIdentity", "OidcLogin", "OidcProvider", "RoleMapping"]

_DISCOVERY_SECONDS = 3600
_SIGNING_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


@dataclass(frozen=True)
class OidcLogin:
    """What the browser carries (signed) from the redirect to the callback."""

    state: str
    nonce: str
    code_verifier: str
    next_path: str


@dataclass(frozen=True)
class OidcIdentity:
    """Who the provider vouches for; ``roles`` None when roles are managed here."""

    username: str
    roles: tuple[str, ...] | None


@dataclass(frozen=True)
class RoleMapping:
    """Provider roles or groups to Hounsfield roles (``auth.oidc_role_map``)."""

    claim: str
    table: dict[str, tuple[str, ...]]
    default: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "RoleMapping":
        table: dict[str, tuple[str, ...]] = {}
        try:
            for name, roles in settings["auth.oidc_role_map"].items():
                table[str(name)] = check_roles([roles] if isinstance(roles, str) else roles)
            default = settings["auth.oidc_default_role"].strip()
            check_roles([default])
        except (InvalidRequest, TypeError) as exc:
            raise ConfigError(f"Setting auth.oidc_role_map or auth.oidc_default_role: "
                              f"{getattr(exc, 'message', exc)}") from None
        return cls(settings["auth.oidc_roles_claim"].strip(), table, default)

    def roles(self, claims: dict[str, Any]) -> tuple[str, ...] | None:
        """The Hounsfield roles of the ID token's claims; None when no mapping is set,
        ``Forbidden`` when none is mapped and there is no default role."""
        if not self.table:
            return None
        value: Any = claims
        for part in self.claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        mapped = tuple(dict.fromkeys(role for name in names if isinstance(name, str)
                                     for role in self.table.get(name, ())))
        if mapped:
            return mapped
        if not self.default:
            raise Forbidden("None of your roles at the OpenID provider gives access here.")
        return (self.default,)


class OidcProvider:
    """One OpenID provider: discovery, the authorization URL, the code exchange and the
    ID token check."""

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings["auth.oidc_issuer"].rstrip("/")
        if not self.issuer:
            raise NotFound("OpenID Connect login is off (auth.oidc_issuer is empty)")
        self.client_id = settings["auth.oidc_client_id"]
        self.client_secret = settings["auth.oidc_client_secret"] or None
        self.username_claim = settings["auth.oidc_username_claim"]
        self.role_mapping = RoleMapping.from_settings(settings)
        self._metadata: dict[str, Any] | None = None
        self._fetched_at = 0.0

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._fetched_at > _DISCOVERY_SECONDS:
            async with httpx.AsyncClient(timeout=10) as client:
                r = await client.get(self.issuer + "/.well-known/openid-configuration")
                r.raise_for_status()
                data = r.json()
            if data.get("issuer", "").rstrip("/") != self.issuer:  # OIDC Discovery 4.3
                raise Unauthorized("The OpenID provider's discovery names another issuer.")
            self._metadata, self._fetched_at = data, time.monotonic()
        return self._metadata

    async def start(self, redirect_uri: str, next_path: str) -> tuple[str, OidcLogin]:
        """The provider's authorization URL and the values to keep until the callback."""
        meta = await self.metadata()
        login = OidcLogin(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                          code_verifier=secrets.token_urlsafe(48), next_path=next_path)
        params = {"response_type": "code", "client_id": self.client_id,
                  "redirect_uri": redirect_uri, "scope": "openid profile email",
                  "state": login.state, "nonce": login.nonce,
                  # RFC 7636 4.2: PKCE with S256
                  "code_challenge": create_s256_code_challenge(login.code_verifier),
                  "code_challenge_method": "S256"}
        endpoint = meta["authorization_endpoint"]
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params), login

    async def finish(self, redirect_uri: str, login: OidcLogin, code: str,
                     state: str) -> OidcIdentity:
        """The user the provider vouches for, with the mapped roles; ``Unauthorized`` for a
        wrong state, a refused code or an ID token that does not check out, ``Forbidden``
        for a user none of whose roles gives access."""
        if not secrets.compare_digest(state, login.state):
            raise Unauthorized("OpenID Connect state does not match.")
        meta = await self.metadata()
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": login.code_verifier,
                "client_id": self.client_id}
        # client_secret_basic when there is a secret (OIDC Core 9), a public client if not
        auth: dict[str, Any] = {"auth": httpx.BasicAuth(self.client_id, self.client_secret)} \
            if self.client_secret else {}
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(meta["token_endpoint"], data=form,
                                  headers={"Accept": "application/json"}, **auth)
            if r.status_code != 200:
                raise Unauthorized(f"The OpenID provider refused the login (HTTP "
                                   f"{r.status_code}).")
            id_token = r.json().get("id_token")
            if not isinstance(id_token, str) or not id_token:
                raise Unauthorized("The OpenID provider sent no ID token.")
            keys = (await client.get(meta["jwks_uri"])).json()
        try:
            decoded = jwt.decode(id_token, KeySet.import_key_set(keys),
                                 algorithms=_SIGNING_ALGORITHMS)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": meta["issuer"]},
                aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": login.nonce},
                exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise Unauthorized(f"The ID token is not valid: {exc}") from None
        username = decoded.claims.get(self.username_claim)
        if not isinstance(username, str) or not username:
            raise Unauthorized(f"The ID token has no {self.username_claim!r} claim.")
        try:
            roles = self.role_mapping.roles(decoded.claims)
        except Forbidden as exc:
            raise OidcRefused(exc.message, username) from None
        return OidcIdentity(username, roles)


class OidcRefused(Forbidden):
    """The provider vouches for the user, but no role of theirs gives access here."""

    def __init__(self, message: str, username: str) -> None:
        super().__init__(message)
        self.username = username
