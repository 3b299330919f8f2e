"""Which permission each HTTP route needs: a table of (methods, path pattern) ->
(permission, audit action). Data, not ``if``s in handlers; a request that matches no row
is refused (fail closed).

Patterns: ``*`` is one path segment, ``**`` any number of segments (also none);
``{dicomweb}`` is the ``dicomweb.base_path`` setting. The first matching row wins.
Besides the permissions of ``permissions.PERMISSIONS`` a row may say ``public`` (no
login: the login route, health, the API description and the pages), ``authenticated``
(any logged-in user: their own session and tokens) or ``share_link`` (the link's token
in the path is the credential; the handler checks it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from hounsfield.auth.permissions import PERMISSIONS

__all__ = ["AUTHENTICATED", "PUBLIC", "READ_ONLY", "ROUTE_RULES", "SHARE_LINK", "AccessTable",
           "RouteRule", "route_table_markdown"]

PUBLIC = "public"
AUTHENTICATED = "authenticated"
SHARE_LINK = "share_link"
# What a share link lets its holder do through DICOMweb: read, never change.
READ_ONLY: frozenset[str] = frozenset({"study.search", "study.view", "study.download"})


@dataclass(frozen=True)
class RouteRule:
    methods: frozenset[str]
    pattern: str
    permission: str
    audit: str | None = None  # audit action recorded for every request (auth/audit.py)


def _r(methods: str, pattern: str, permission: str, audit: str | None = None) -> RouteRule:
    return RouteRule(frozenset(methods.split()), pattern, permission, audit)


_STUDY = "{dicomweb}/studies/*"
_SERIES = _STUDY + "/series/*"
_INSTANCE = _SERIES + "/instances/*"

ROUTE_RULES: tuple[RouteRule, ...] = (
    # system
    _r("GET", "/api/health", PUBLIC),
    _r("GET", "/api/openapi.json", PUBLIC),
    _r("GET", "/api/docs", PUBLIC),
    _r("GET", "/api/docs/oauth2-redirect", PUBLIC),
    _r("GET", "/api/stats", "study.search"),
    # login sessions, own account and own API tokens
    _r("POST", "/api/auth/login", PUBLIC),
    _r("GET", "/api/auth/options", PUBLIC),
    _r("GET", "/api/auth/oidc/login", PUBLIC),
    _r("GET", "/api/auth/oidc/callback", PUBLIC),
    _r("POST", "/api/auth/logout", AUTHENTICATED),
    _r("GET", "/api/auth/me", AUTHENTICATED),
    _r("POST", "/api/auth/password", AUTHENTICATED),
    _r("GET POST", "/api/auth/tokens", AUTHENTICATED),
    _r("DELETE", "/api/auth/tokens/*", AUTHENTICATED),
    # administration
    _r("GET", "/api/admin/audit", "admin.audit"),
    _r("GET POST PATCH DELETE", "/api/admin/users/**", "admin.users"),
    _r("GET POST PATCH DELETE", "/api/admin/groups/**", "admin.users"),
    _r("GET POST DELETE", "/api/admin/grants/**", "admin.users"),
    _r("GET POST DELETE", "/api/admin/tokens/**", "admin.users"),
    # sharing and export
    _r("GET POST", "/api/shares", "study.share"),
    _r("GET POST", "/api/shares/grants", "study.share"),
    _r("DELETE", "/api/shares/grants/*", "study.share"),
    _r("DELETE", "/api/shares/*", "study.share"),
    _r("GET", "/api/export", "study.download"),
    _r("GET POST", "/share/*", SHARE_LINK),
    _r("GET", "/share/*/download", SHARE_LINK),
    # DICOMweb QIDO-RS (PS3.18 10.6)
    _r("GET", "{dicomweb}/studies", "study.search", "search"),
    _r("GET", "{dicomweb}/series", "study.search", "search"),
    _r("GET", "{dicomweb}/instances", "study.search", "search"),
    _r("GET", _STUDY + "/series", "study.search", "search"),
    _r("GET", _STUDY + "/instances", "study.search", "search"),
    _r("GET", _SERIES + "/instances", "study.search", "search"),
    # WADO-RS (PS3.18 10.4): metadata, frames, rendered images are viewing; the original
    # objects and bulk data are a download.
    _r("GET", _STUDY + "/metadata", "study.view", "view"),
    _r("GET", _SERIES + "/metadata", "study.view", "view"),
    _r("GET", _INSTANCE + "/metadata", "study.view", "view"),
    _r("GET", _INSTANCE + "/frames/*", "study.view", "view"),
    _r("GET", _INSTANCE + "/bulkdata/**", "study.view", "view"),
    _r("GET", "{dicomweb}/studies/**/rendered", "study.view", "view"),
    _r("GET", "{dicomweb}/studies/**/thumbnail", "study.view", "view"),
    _r("GET", _STUDY, "study.download", "retrieve"),
    _r("GET", _SERIES, "study.download", "retrieve"),
    _r("GET", _INSTANCE, "study.download", "retrieve"),
    # WADO-URI (PS3.18 chapter 9)
    _r("GET", "/wado", "study.download", "retrieve"),
    _r("GET", "{dicomweb}/wado", "study.download", "retrieve"),
    # STOW-RS (PS3.18 10.5) and delete
    _r("POST", "{dicomweb}/studies", "study.upload", "store"),
    _r("POST", _STUDY, "study.upload", "store"),
    _r("DELETE", _STUDY, "study.delete", "delete"),
    _r("DELETE", _SERIES, "study.delete", "delete"),
    _r("DELETE", _INSTANCE, "study.delete", "delete"),
    # the web application: annotations, comments, documents, timeline, upload
    _r("GET", "/api/studies/*/annotations", "study.view", "view"),
    _r("POST", "/api/studies/*/annotations", "study.annotate", "annotate"),
    _r("PUT DELETE", "/api/studies/*/annotations/*", "study.annotate", "annotate"),
    _r("GET", "/api/studies/*/comments", "study.view", "view"),
    _r("POST", "/api/studies/*/comments", "study.annotate", "annotate"),
    _r("DELETE", "/api/studies/*/comments/*", "study.annotate", "annotate"),
    _r("GET", "/api/studies/*/documents", "study.view", "view"),
    _r("GET", "/api/studies/*/documents/*/content", "study.view", "view"),
    # A Patient ID may hold "/" (percent-encoded, decoded before routing): any segments.
    _r("GET", "/api/patients/**/timeline", "study.search", "search"),
    _r("POST", "/api/upload", "study.upload", "store"),
    # remote DICOM nodes and storage statistics
    _r("GET", "/api/admin/nodes", "admin.nodes"),
    _r("POST", "/api/admin/nodes", "admin.nodes", "configure"),
    _r("PATCH DELETE", "/api/admin/nodes/*", "admin.nodes", "configure"),
    _r("POST", "/api/admin/nodes/*/echo", "admin.nodes", "configure"),
    _r("GET", "/api/admin/stats", "admin.settings"),
    # the pages (built front end): public, they call the protected API
    _r("GET", "/**", PUBLIC),
)

for _rule in ROUTE_RULES:  # the table must name real permissions
    if _rule.permission not in PERMISSIONS and _rule.permission not in (
            PUBLIC, AUTHENTICATED, SHARE_LINK):
        raise ValueError(f"Route rule {_rule.pattern} names unknown permission "
                         f"{_rule.permission!r}")


def _compile(pattern: str) -> re.Pattern[str]:
    out = []
    for part in re.split(r"(/\*\*|\*)", pattern):
        if part == "/**":
            out.append(r"(?:/[^/]+)*")
        elif part == "*":
            out.append(r"[^/]+")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out) + r"/?" if pattern != "/**" else "/.*")


class AccessTable:
    """The route table compiled for one DICOMweb base path."""

    def __init__(self, dicomweb_base_path: str = "/dicom-web",
                 rules: Iterable[RouteRule] = ROUTE_RULES) -> None:
        base = "/" + dicomweb_base_path.strip("/")
        self.rules = tuple(rules)
        self._compiled = [(rule, _compile(rule.pattern.replace("{dicomweb}", base)))
                          for rule in self.rules]
        # Paths under these prefixes are never pages: if no row above matched, refuse.
        self.reserved = ("/api/", "/api", base + "/", base, "/wado", "/share/", "/share")

    def match(self, method: str, path: str) -> RouteRule | None:
        """The rule for a request; None means refuse."""
        method = "GET" if method == "HEAD" else method
        for rule, regex in self._compiled:
            if method in rule.methods and regex.fullmatch(path):
                if rule.pattern == "/**" and (path in self.reserved or path.startswith(
                        tuple(p for p in self.reserved if p.endswith("/")))):
                    return None
                return rule
        return None


def route_table_markdown(rules: Iterable[RouteRule] = ROUTE_RULES) -> str:
    """The route table as the Markdown kept in docs/security.md."""
    lines = ["| methods | path | permission | audited as |", "| --- | --- | --- | --- |"]
    for rule in rules:
        lines.append(f"| {' '.join(sorted(rule.methods))} | `{rule.pattern}` | "
                     f"`{rule.permission}` | {rule.audit or ''} |")
    return "\n".join(lines)
