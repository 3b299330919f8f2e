"""``hounsfield dicom echo|store|find|move|get``: drive remote DICOM nodes from the shell.

A target is either a node name from ``dicom.remote_nodes`` or ``host:port`` (then
``--aec`` gives the called AE title).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import click
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset

from hounsfield.config import ConfigError, Settings, load_settings

from . import dimse as D
from .association import Association, Message
from .client import (AssociationRejected, ClientAssociation, DIMSEFailure, RetrieveResult,
                     open_association, query_contexts, role_selection, verification_context)
from .datasets import NeedMoreData, parse_file_meta
from .dul import AssociationClosed
from .sop_classes import COMMON_STORAGE, UNCOMPRESSED_SYNTAXES, all_transfer_syntaxes
from .storage_scu import Part10Source
from .tls import client_ssl_context


def _settings(ctx: click.Context) -> Settings:
    opts = (ctx.find_root().obj or {}) if ctx.find_root() else {}
    try:
        return load_settings(opts.get("config"), data_dir=opts.get("data_dir"))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class Target:
    """Where to connect: host, port, called AE title and an optional TLS context."""

    def __init__(self, ctx: click.Context, target: str, aec: str | None, aet: str | None,
                 tls: bool, ca: str | None, cert: str | None, key: str | None,
                 timeout: float) -> None:
        settings = _settings(ctx)
        node = settings["dicom.remote_nodes"].get(target)
        if node is not None:
            self.host, self.port = node["host"], int(node["port"])
            self.called = aec or node.get("ae_title", target)
            tls = tls or bool(node.get("tls"))
        else:
            host, sep, port = target.rpartition(":")
            if not sep or not port.isdigit():
                raise click.BadParameter(f"{target!r} is neither a node of dicom.remote_nodes "
                                         "nor host:port", param_hint="TARGET")
            self.host, self.port, self.called = host, int(port), aec or "ANY-SCP"
        self.calling = aet or settings["dicom.ae_title"]
        self.max_pdu_length = settings["dicom.max_pdu_length"]
        self.timeout = timeout
        self.ssl = None
        if tls:
            self.ssl = client_ssl_context(ca or settings["dicom.tls_ca_certificates"] or None,
                                          cert or settings["dicom.tls_certificate"] or None,
                                          key or settings["dicom.tls_private_key"] or None)

    async def connect(self, contexts: list[Any], **kwargs: Any) -> ClientAssociation:
        try:
            return await open_association(self.host, self.port, self.called, self.calling,
                                          contexts, max_pdu_length=self.max_pdu_length,
                                          timeout=self.timeout, ssl=self.ssl, **kwargs)
        except AssociationRejected as exc:
            raise click.ClickException(str(exc)) from None
        except (OSError, TimeoutError, AssociationClosed) as exc:
            raise click.ClickException(f"Cannot associate with {self.called} at "
                                       f"{self.host}:{self.port}: {exc}") from None


def _target_options(fn: Any) -> Any:
    for decorator in reversed([
        click.argument("target"),
        click.option("--aec", help="Called AE title (default: the node's, or ANY-SCP)."),
        click.option("--aet", help="Our (calling) AE title (default: setting dicom.ae_title)."),
        click.option("--tls", is_flag=True, help="Use DICOM TLS."),
        click.option("--ca", type=click.Path(exists=True, dir_okay=False),
                     help="CA certificates (PEM) to verify the peer."),
        click.option("--cert", type=click.Path(exists=True, dir_okay=False),
                     help="Our certificate (PEM) for TLS."),
        click.option("--key", type=click.Path(exists=True, dir_okay=False),
                     help="Our private key (PEM) for TLS."),
        click.option("--timeout", type=float, default=30.0, show_default=True,
                     help="Seconds to wait for the peer."),
    ]):
        fn = decorator(fn)
    return fn


def _target(ctx: click.Context, kw: dict[str, Any]) -> Target:
    return Target(ctx, kw.pop("target"), kw.pop("aec"), kw.pop("aet"), kw.pop("tls"),
                  kw.pop("ca"), kw.pop("cert"), kw.pop("key"), kw.pop("timeout"))


def _identifier(level: str, keys: tuple[str, ...]) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level.upper()
    for key in keys:
        keyword, _, value = key.partition("=")
        keyword = keyword.strip()
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise click.BadParameter(f"{keyword!r} is not a DICOM keyword", param_hint="-k")
        ds.add_new(tag, dictionary_VR(tag), value or None)
    return ds


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except DIMSEFailure as exc:
        raise click.ClickException(str(exc)) from None


@click.group("dicom")
def dicom_group() -> None:
    """Talk DICOM to remote nodes: echo, store, find, move, get."""


@dicom_group.command()
@_target_options
@click.option("--repeat", type=int, default=1, show_default=True, help="Number of C-ECHOs.")
@click.pass_context
def echo(ctx: click.Context, repeat: int, **kw: Any) -> None:
    """C-ECHO a remote node (Verification)."""
    target = _target(ctx, kw)

    async def run() -> None:
        assoc = await target.connect([verification_context()])
        try:
            for _ in range(repeat):
                status = await assoc.echo()
                click.echo(f"C-ECHO {target.called}: status 0x{status:04X}")
                if status != D.SUCCESS:
                    raise click.ClickException("C-ECHO failed")
        finally:
            await assoc.release()

    _run(run())


def _files(paths: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for path in map(Path, paths):
        out += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return out


def _meta(path: Path) -> tuple[str, str] | None:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    try:
        meta = parse_file_meta(head)
    except (ValueError, NeedMoreData):
        return None
    return meta.sop_class_uid, meta.transfer_syntax_uid


@dicom_group.command()
@_target_options
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.pass_context
def store(ctx: click.Context, paths: tuple[str, ...], **kw: Any) -> None:
    """C-STORE files and folders (recursively), with progress; one association per group of
    SOP classes that fits in 128 presentation contexts."""
    target = _target(ctx, kw)
    files = [(p, m) for p in _files(paths) if (m := _meta(p)) is not None]
    if not files:
        raise click.ClickException("No DICOM Part 10 file found")
    groups = _context_groups(sorted({m for _, m in files}))

    async def run() -> int:
        failed = 0
        with click.progressbar(length=len(files), label=f"Storing to {target.called}") as bar:
            for contexts, kinds in groups:
                assoc = await target.connect(contexts)
                try:
                    for path, meta in files:
                        if meta not in kinds:
                            continue
                        result = await assoc.store(Part10Source.from_path(path))
                        bar.update(1)
                        if not result.ok:
                            failed += 1
                            click.echo(f"\n{path}: {result.reason or hex(result.status)}",
                                       err=True)
                finally:
                    await assoc.release()
        return failed

    failed = _run(run())
    click.echo(f"{len(files) - failed} stored, {failed} failed")
    if failed:
        ctx.exit(1)


def _context_groups(kinds: list[tuple[str, str]]
                    ) -> list[tuple[list[tuple[str, list[str]]], set[tuple[str, str]]]]:
    """Presentation contexts for (SOP class, transfer syntax) pairs: the stored syntax and
    an uncompressed fallback for each, split into groups of at most 128 (PS3.8 9.3.2.2)."""
    groups: list[tuple[list[tuple[str, list[str]]], set[tuple[str, str]]]] = []
    contexts: list[tuple[str, list[str]]] = []
    covered: set[tuple[str, str]] = set()
    for sop_class, ts in kinds:
        needed = [(sop_class, syntaxes) for syntaxes in ([ts], list(UNCOMPRESSED_SYNTAXES))
                  if not (len(syntaxes) == 1 and syntaxes[0] in UNCOMPRESSED_SYNTAXES)]
        needed = [c for c in needed if c not in contexts]
        if len(contexts) + len(needed) > 128:
            groups.append((contexts, covered))
            contexts, covered = [], set()
            needed = [(sop_class, [ts])] * (ts not in UNCOMPRESSED_SYNTAXES) + \
                [(sop_class, list(UNCOMPRESSED_SYNTAXES))]
        contexts += needed
        covered.add((sop_class, ts))
    if contexts:
        groups.append((contexts, covered))
    return groups


_LEVEL = click.option("--level", default="STUDY", show_default=True,
                      type=click.Choice(["PATIENT", "STUDY", "SERIES", "IMAGE"],
                                        case_sensitive=False))
_MODEL = click.option("--model", default="study", show_default=True,
                      type=click.Choice(["study", "patient"]), help="Information model root.")
_KEYS = click.option("-k", "keys", multiple=True,
                     help="Keyword=value (matching key) or Keyword (return key).")


@dicom_group.command()
@_target_options
@_LEVEL
@_MODEL
@_KEYS
@click.pass_context
def find(ctx: click.Context, level: str, model: str, keys: tuple[str, ...], **kw: Any) -> None:
    """C-FIND: print each match, one line of Keyword=value pairs."""
    target = _target(ctx, kw)
    identifier = _identifier(level, keys)

    async def run() -> int:
        assoc = await target.connect(query_contexts(model, "find"))
        count = 0
        try:
            async for ds in assoc.find(identifier, model=model):
                count += 1
                click.echo("  ".join(f"{e.keyword}={e.value}" for e in ds
                                     if e.keyword not in ("SpecificCharacterSet",
                                                          "QueryRetrieveLevel")))
        finally:
            await assoc.release()
        return count

    click.echo(f"{_run(run())} match(es)", err=True)


def _report(result: RetrieveResult) -> None:
    click.echo(f"status 0x{result.status:04X}: {result.completed} completed, {result.failed} "
               f"failed, {result.warning} warning")
    for uid in result.failed_sop_instance_uids:
        click.echo(f"failed: {uid}")
    if D.status_category(result.status) not in ("success", "warning"):
        raise click.ClickException(result.error_comment or "retrieve failed")


@dicom_group.command()
@_target_options
@click.argument("destination")
@_LEVEL
@_MODEL
@_KEYS
@click.pass_context
def move(ctx: click.Context, destination: str, level: str, model: str,
         keys: tuple[str, ...], **kw: Any) -> None:
    """C-MOVE matching instances to the AE title DESTINATION."""
    target = _target(ctx, kw)
    identifier = _identifier(level, keys)

    async def run() -> RetrieveResult:
        assoc = await target.connect(query_contexts(model, "move"))
        try:
            return await assoc.move(identifier, destination, model=model, on_pending=lambda r:
                                    click.echo(f"  {r.completed} done, {r.failed} failed",
                                               err=True))
        finally:
            await assoc.release()

    _report(_run(run()))


class FileSink:
    """Writes a received data set as a Part 10 file, streamed, renamed when complete."""

    def __init__(self, folder: Path, message: Message, calling: str) -> None:
        from hounsfield.archive.part10 import part10_header

        command = message.command
        self.uid = command.affected_sop_instance_uid or uuid.uuid4().hex
        self.path = folder / f"{self.uid}.dcm"
        self.tmp = folder / f".{self.uid}.{uuid.uuid4().hex}.part"
        self.fh = open(self.tmp, "wb")
        self.fh.write(part10_header(command.affected_sop_class_uid or "", self.uid,
                                    message.context.transfer_syntax, calling))

    async def write(self, data: bytes | memoryview) -> None:
        await asyncio.to_thread(self.fh.write, bytes(data))

    async def finish(self) -> tuple[int, str | None]:
        self.fh.close()
        os.replace(self.tmp, self.path)
        return D.SUCCESS, None

    async def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


@dicom_group.command()
@_target_options
@_LEVEL
@_MODEL
@_KEYS
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=".",
              show_default=True, help="Folder for the received files.")
@click.pass_context
def get(ctx: click.Context, level: str, model: str, keys: tuple[str, ...], out_dir: str,
        **kw: Any) -> None:
    """C-GET matching instances into a folder (we are SCP of the common storage classes)."""
    target = _target(ctx, kw)
    identifier = _identifier(level, keys)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # The peer, as acceptor, picks the transfer syntax of each context: offer them all so
    # it can send what it stores.
    syntaxes = all_transfer_syntaxes()

    async def on_store(assoc: Association, message: Message) -> FileSink:
        return FileSink(folder, message, assoc.peer_ae_title)

    async def run() -> RetrieveResult:
        contexts = query_contexts(model, "get") + [(uid, syntaxes) for uid in COMMON_STORAGE]
        assoc = await target.connect(contexts,
                                     roles=[role_selection(uid) for uid in COMMON_STORAGE],
                                     on_store=on_store)
        try:
            return await assoc.get(identifier, model=model)
        finally:
            await assoc.release()

    _report(_run(run()))
