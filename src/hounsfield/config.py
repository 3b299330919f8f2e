"""Every setting of Hounsfield: name, type, default and help text, in one schema.

Settings are read, in increasing priority, from the defaults below, a TOML file
(``--config`` or ``HOUNSFIELD_CONFIG``) and ``HOUNSFIELD_*`` environment variables.
A setting named ``dicom.port`` is ``[dicom] port = ...`` in TOML and
``HOUNSFIELD_DICOM_PORT`` in the environment. ``docs/configuration.md`` is generated from
this schema (``hounsfield config docs``); a test fails when it is out of date.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

ENV_PREFIX = "HOUNSFIELD_"


@dataclass(frozen=True)
class Setting:
    name: str
    type: str  # "str" | "int" | "float" | "bool" | "list" | "table" | "choice"
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    secret: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.replace(".", "_").upper()

    def parse(self, value: Any, source: str) -> Any:
        """Convert a raw value (TOML value or environment string) to this setting's type."""
        where = f"setting {self.name!r} (from {source})"
        try:
            if self.type == "str":
                if not isinstance(value, str):
                    raise ValueError("expected a string")
                return value
            if self.type == "int":
                if isinstance(value, bool):
                    raise ValueError("expected an integer")
                return int(value)
            if self.type == "float":
                return float(value)
            if self.type == "bool":
                if isinstance(value, bool):
                    return value
                text = str(value).strip().lower()
                if text in ("1", "true", "yes", "on"):
                    return True
                if text in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError("expected true or false")
            if self.type == "choice":
                text = str(value)
                if text not in self.choices:
                    raise ValueError(f"expected one of {', '.join(self.choices)}")
                return text
            if self.type == "list":
                if isinstance(value, str):
                    return [v.strip() for v in value.split(",") if v.strip()]
                if isinstance(value, list):
                    return [str(v) for v in value]
                raise ValueError("expected a list or a comma-separated string")
            if self.type == "table":
                if isinstance(value, str):
                    value = json.loads(value) if value.strip() else {}
                if not isinstance(value, dict):
                    raise ValueError("expected a table")
                return value
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"Invalid value {value!r} for {where}: {exc}") from None
        raise ConfigError(f"Unknown type {self.type!r} for {where}")


class ConfigError(ValueError):
    pass


def _s(name: str, type: str, default: Any, help: str, **kw: Any) -> Setting:
    return Setting(name, type, default, help, **kw)


SCHEMA: tuple[Setting, ...] = (
    # --- server -------------------------------------------------------------------------
    _s("data_dir", "str", "./data",
       "Folder that holds the archive: the SQLite index, the blob folder and temporary files."),
    _s("http.host", "str", "0.0.0.0", "Address the HTTP server listens on."),
    _s("http.port", "int", 8080, "Port of the HTTP server (JSON API, DICOMweb, web pages)."),
    _s("http.cors_origins", "list", [],
       "Origins allowed to call the HTTP API from a browser (CORS); empty means none."),
    _s("http.tls_certificate", "str", "", "PEM certificate file; when set, HTTP is served over TLS."),
    _s("http.tls_private_key", "str", "", "PEM private key file for the HTTPS certificate."),
    _s("http.hsts", "bool", True, "Send Strict-Transport-Security when HTTPS is on."),
    _s("log_level", "choice", "info", "Logging level.",
       choices=("debug", "info", "warning", "error")),
    # --- index --------------------------------------------------------------------------
    _s("index.url", "str", "",
       "SQLAlchemy URL of the index database. Empty: SQLite in data_dir/index.sqlite. "
       "PostgreSQL: postgresql+psycopg://user@host/db."),
    _s("index.pool_size", "int", 8, "Connections kept open to PostgreSQL."),
    # --- storage ------------------------------------------------------------------------
    _s("storage.url", "str", "",
       "Where blobs are kept. Empty: the folder data_dir/blobs. Otherwise file:///path, "
       "s3://bucket/prefix or memory://."),
    _s("storage.s3_endpoint_url", "str", "",
       "Endpoint of an S3-compatible object store (empty: the AWS default)."),
    _s("storage.s3_region", "str", "us-east-1", "Region of the S3 bucket."),
    _s("storage.s3_access_key_id", "str", "", "S3 access key id (empty: the default chain)."),
    _s("storage.s3_secret_access_key", "str", "", "S3 secret access key.", secret=True),
    _s("storage.s3_multipart_threshold", "int", 16 * 1024 * 1024,
       "Objects at least this large are uploaded to S3 in parts."),
    _s("storage.fsync", "bool", True,
       "fsync every blob and its folder before reporting success. Turn off only for "
       "throwaway archives."),
    # --- ingest -------------------------------------------------------------------------
    _s("ingest.duplicates", "choice", "keep_first",
       "What to do when an instance with a stored SOP Instance UID arrives again: keep the "
       "first (reported as success), overwrite, or overwrite only if the content differs.",
       choices=("keep_first", "overwrite", "overwrite_if_different")),
    _s("ingest.patient_id_mismatch", "choice", "accept",
       "A Study Instance UID already stored under another Patient ID: accept (and log a "
       "warning) or reject.", choices=("accept", "reject")),
    _s("ingest.max_header_bytes", "int", 64 * 1024 * 1024,
       "Largest DICOM header (everything before Pixel Data) accepted."),
    _s("ingest.max_element_bytes", "int", 4 * 1024 * 1024 * 1024 - 2,
       "Largest value length accepted for one element; larger lengths are treated as corrupt."),
    _s("ingest.accept_unknown_sop_classes", "bool", True,
       "Store objects whose SOP Class UID is not a known storage SOP class (private ones)."),
    # --- query --------------------------------------------------------------------------
    _s("query.case_insensitive_pn", "bool", True,
       "Match person names without regard to case (PS3.4 C.2.2.2.1 allows either)."),
    _s("query.max_results", "int", 1000,
       "Most results one search returns; QIDO-RS warns when a result is cut."),
    # --- DICOM --------------------------------------------------------------------------
    _s("dicom.enabled", "bool", True, "Listen for DICOM associations."),
    _s("dicom.host", "str", "0.0.0.0", "Address the DICOM server listens on."),
    _s("dicom.port", "int", 11112, "Port of the DICOM server."),
    _s("dicom.ae_title", "str", "HOUNSFIELD", "Our Application Entity title."),
    _s("dicom.check_called_ae_title", "bool", False,
       "Reject associations whose Called AE Title is not ours."),
    _s("dicom.max_associations", "int", 64, "Most associations served at once."),
    _s("dicom.max_pdu_length", "int", 262144,
       "Largest PDU we receive (Maximum Length sub-item); 0 is not allowed."),
    _s("dicom.idle_timeout", "float", 60.0,
       "Seconds an association may stay silent before it is aborted."),
    _s("dicom.artim_timeout", "float", 30.0,
       "ARTIM timer (PS3.8 9.1.5): seconds to wait for A-ASSOCIATE-RQ or A-RELEASE-RP."),
    _s("dicom.network_timeout", "float", 30.0,
       "Seconds to wait for a peer's answer when we are the requestor."),
    _s("dicom.transfer_syntax_preference", "list", [
        "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.5"],
       "Transfer syntaxes preferred, in order, when a proposed context offers several; any "
       "other syntax offered is accepted after these."),
    _s("dicom.accept_all_transfer_syntaxes", "bool", True,
       "Accept every transfer syntax proposed for storage and keep the original bytes."),
    _s("dicom.remote_nodes", "table", {},
       "Remote DICOM nodes, by name: {ae_title, host, port, tls}. These and the nodes an "
       "administrator adds in the web application are the only C-MOVE destinations."),
    _s("dicom.allow_echo", "list", ["*"], "Calling AE titles allowed to C-ECHO ('*': any)."),
    _s("dicom.allow_store", "list", ["*"], "Calling AE titles allowed to C-STORE ('*': any)."),
    _s("dicom.allow_find", "list", ["*"], "Calling AE titles allowed to C-FIND ('*': any)."),
    _s("dicom.allow_get", "list", ["*"], "Calling AE titles allowed to C-GET ('*': any)."),
    _s("dicom.allow_move", "list", ["*"],
       "Calling AE titles allowed to request C-MOVE ('*': any). Destinations must still be "
       "known remote nodes."),
    _s("dicom.require_user_identity", "bool", False,
       "Reject associations that carry no valid User Identity (PS3.7 D.3.3.7: type 2, user "
       "name and password or API token). A given identity is always checked; with "
       "auth.enabled its user's dicom.* permissions and study scope also apply."),
    _s("dicom.tls_enabled", "bool", False, "Serve DICOM over TLS (PS3.15 Annex B, BCP 195)."),
    _s("dicom.tls_port", "int", 2762, "Port of the DICOM TLS server."),
    _s("dicom.tls_certificate", "str", "", "PEM certificate for DICOM TLS."),
    _s("dicom.tls_private_key", "str", "", "PEM private key for DICOM TLS."),
    _s("dicom.tls_ca_certificates", "str", "",
       "PEM file of CA certificates used to verify peers' certificates."),
    _s("dicom.tls_verify_client", "bool", False, "Require and verify a client certificate."),
    # --- DICOMweb -----------------------------------------------------------------------
    _s("dicomweb.base_path", "str", "/dicom-web", "Path prefix of the DICOMweb services."),
    _s("dicomweb.render_workers", "int", 0,
       "Processes that render and transcode images (0: one per CPU)."),
    _s("dicomweb.public_url", "str", "",
       "DICOMweb base URL as clients reach it (e.g. behind a proxy), used in BulkDataURI and "
       "RetrieveURL; empty: from each request's scheme and Host header."),
    # --- security -----------------------------------------------------------------------
    _s("auth.enabled", "bool", True,
       "Require authentication on every HTTP route and apply access rules."),
    _s("auth.session_lifetime", "int", 8 * 3600, "Seconds a login session lasts."),
    _s("auth.secret_key", "str", "",
       "Key that signs session cookies and share links; empty: a random key kept in data_dir.",
       secret=True),
    _s("auth.password_min_length", "int", 12, "Shortest password accepted."),
    _s("auth.login_max_failures", "int", 5,
       "Failed logins in a row after which an account is locked for a while."),
    _s("auth.lockout_seconds", "int", 900, "How long a locked account stays locked."),
    _s("auth.oidc_issuer", "str", "", "OpenID Connect issuer URL; empty: OIDC login off."),
    _s("auth.oidc_client_id", "str", "", "OpenID Connect client id."),
    _s("auth.oidc_client_secret", "str", "", "OpenID Connect client secret.", secret=True),
    _s("auth.oidc_username_claim", "str", "preferred_username",
       "ID token claim holding the user name; that user must exist here and be enabled."),
    _s("auth.oidc_roles_claim", "str", "roles",
       "ID token claim listing the user's roles or groups at the provider; a dotted path "
       "reaches into objects (e.g. realm_access.roles)."),
    _s("auth.oidc_role_map", "table", {},
       "Provider role or group name -> Hounsfield role (e.g. {\"pacs-admins\" = \"admin\"}); "
       "names not listed are ignored. When set, a user's roles are set from the provider "
       "at every OpenID Connect login; empty: roles are managed here only."),
    _s("auth.oidc_default_role", "str", "viewer",
       "Role of an OpenID Connect user none of whose provider roles is mapped (with "
       "auth.oidc_role_map set); empty: such a user is refused."),
    _s("audit.syslog_address", "str", "",
       "host:port of a syslog receiver for DICOM audit messages (RFC 5424); empty: off."),
    _s("audit.syslog_tls", "bool", False, "Send audit messages over TLS (RFC 5425)."),
    # --- de-identification (PS3.15 Annex E options) -------------------------------------
    _s("deidentify.retain_safe_private", "bool", False,
       "Keep private attributes known to be safe (PS3.15 E.3.10); others are removed."),
    _s("deidentify.retain_uids", "bool", False,
       "Keep the original UIDs (PS3.15 E.3.9) instead of consistent pseudonymous ones."),
    _s("deidentify.retain_device_identity", "bool", False,
       "Keep device identifiers: serial numbers, station names, detector IDs (PS3.15 E.3.8)."),
    _s("deidentify.retain_institution_identity", "bool", False,
       "Keep institution name, address and department (PS3.15 E.3.11)."),
    _s("deidentify.retain_patient_characteristics", "bool", False,
       "Keep sex, age, size, weight, ethnic group, pregnancy and smoking status "
       "(PS3.15 E.3.4)."),
    _s("deidentify.retain_long_full_dates", "bool", False,
       "Keep dates and times unchanged (PS3.15 E.3.6); excludes retain_long_modified_dates."),
    _s("deidentify.retain_long_modified_dates", "bool", False,
       "Keep dates shifted by one offset per export, so intervals survive (PS3.15 E.3.6)."),
    _s("deidentify.clean_descriptions", "bool", False,
       "Keep descriptions and comments with identifying names and IDs blanked out instead "
       "of removing them (PS3.15 E.3.5)."),
    _s("deidentify.clean_structured_content", "bool", False,
       "Keep structured content (SR Content Sequence) with its free text cleaned "
       "(PS3.15 E.3.2)."),
    _s("deidentify.clean_graphics", "bool", False,
       "Keep overlays, curves and graphic annotations with their text cleaned (PS3.15 E.3.3)."),
    _s("deidentify.allow_burned_in", "bool", False,
       "Export objects whose pixels may show burned-in text (Burned In Annotation YES, or "
       "ultrasound and secondary capture without NO); off: such objects are refused."),
)

_BY_NAME = {s.name: s for s in SCHEMA}


@dataclass
class Settings:
    """The effective settings: values by name, and where each came from."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        if name not in _BY_NAME:
            raise KeyError(f"Unknown setting {name!r}")
        return self.values.get(name, _BY_NAME[name].default)

    def get(self, name: str) -> Any:
        return self[name]

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some settings changed; keys use ``__`` for dots (``dicom__port``)."""
        values = dict(self.values)
        sources = dict(self.sources)
        for key, value in changes.items():
            name = key.replace("__", ".")
            if name not in _BY_NAME:
                raise KeyError(f"Unknown setting {name!r}")
            values[name] = value
            sources[name] = "code"
        return Settings(values, sources)

    @property
    def data_dir(self) -> Path:
        return Path(self["data_dir"]).expanduser().resolve()

    def items(self) -> Iterator[tuple[Setting, Any, str]]:
        for s in SCHEMA:
            yield s, self[s.name], self.sources.get(s.name, "default")


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in _BY_NAME:
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def load_settings(config_file: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Defaults, then the TOML file, then ``HOUNSFIELD_*`` variables, then ``overrides``."""
    env = os.environ if environ is None else environ
    settings = Settings()
    path = config_file or env.get("HOUNSFIELD_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"Configuration file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Configuration file {str(path)!r} is not valid TOML: {exc}") from None
        for name, value in _flatten(data):
            setting = _BY_NAME.get(name)
            if setting is None:
                raise ConfigError(f"Unknown setting {name!r} in {path}")
            settings.values[name] = setting.parse(value, str(path))
            settings.sources[name] = str(path)
    for setting in SCHEMA:
        if setting.env in env:
            settings.values[setting.name] = setting.parse(env[setting.env], setting.env)
            settings.sources[setting.name] = setting.env
    for key, value in overrides.items():
        if value is None:
            continue
        name = key.replace("__", ".")
        setting = _BY_NAME.get(name)
        if setting is None:
            raise ConfigError(f"Unknown setting {name!r}")
        settings.values[name] = value
        settings.sources[name] = "command line"
    return settings


def _format_default(setting: Setting) -> str:
    value = setting.default
    if setting.type == "bool":
        return "true" if value else "false"
    if setting.type in ("list", "table"):
        return "`" + json.dumps(value) + "`"
    if value == "":
        return "(empty)"
    return f"`{value}`"


def render_docs() -> str:
    """The text of ``docs/configuration.md``."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `hounsfield config docs` from src/hounsfield/config.py; "
        "do not edit by hand. -->",
        "",
        "Hounsfield reads its settings from, in increasing priority: the defaults below, a "
        "TOML file given with `--config` (or `HOUNSFIELD_CONFIG`), and environment "
        "variables. A setting `dicom.port` is written `[dicom]` / `port = 11112` in the "
        "TOML file and `HOUNSFIELD_DICOM_PORT=11112` in the environment. Lists may be given "
        "in the environment as comma-separated text, tables as JSON. "
        "`hounsfield config show` prints the effective values and where each came from.",
        "",
    ]
    section = None
    for s in SCHEMA:
        sec = s.name.split(".")[0] if "." in s.name else "general"
        if sec != section:
            section = sec
            lines += [f"## {sec}", "", "| setting | type | default | environment | meaning |",
                      "| --- | --- | --- | --- | --- |"]
        typ = s.type if s.type != "choice" else "one of " + ", ".join(f"`{c}`" for c in s.choices)
        lines.append(f"| `{s.name}` | {typ} | {_format_default(s)} | `{s.env}` | {s.help} |")
        nxt = SCHEMA.index(s) + 1
        if nxt == len(SCHEMA) or (SCHEMA[nxt].name.split(".")[0] if "." in SCHEMA[nxt].name
                                  else "general") != sec:
            lines.append("")
    return "\n".join(lines)
