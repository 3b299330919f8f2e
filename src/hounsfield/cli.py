"""The ``hounsfield`` command: serve, demo, import, reindex, verify, stats, config."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from hounsfield import __version__
from hounsfield.config import SCHEMA, ConfigError, Settings, load_settings, render_docs


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    opts = ctx.obj or {}
    try:
        return load_settings(opts.get("config"), data_dir=opts.get("data_dir"), **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _logging(settings: Settings) -> None:
    level = settings["log_level"].upper()
    logging.basicConfig(level=level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # Alembic's plugin and migration chatter is for debugging, not a server's console.
        logging.getLogger("alembic").setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hounsfield")
@click.option("--config", "config", type=click.Path(dir_okay=False),
              help="TOML configuration file (also HOUNSFIELD_CONFIG).")
@click.option("--data-dir", "data_dir", type=click.Path(file_okay=False),
              help="Archive folder (setting data_dir).")
@click.pass_context
def main(ctx: click.Context, config: str | None, data_dir: str | None) -> None:
    """Hounsfield: an open-source PACS."""
    ctx.obj = {"config": config, "data_dir": data_dir}


def _serve_options(fn: Any) -> Any:
    fn = click.option("--http-port", type=int, help="HTTP port (setting http.port).")(fn)
    fn = click.option("--dicom-port", type=int, help="DICOM port (setting dicom.port).")(fn)
    return fn


@main.command()
@_serve_options
@click.pass_context
def serve(ctx: click.Context, http_port: int | None, dicom_port: int | None) -> None:
    """Run the server: HTTP (API, DICOMweb, pages) and DICOM."""
    from hounsfield.app import serve as run

    settings = _settings(ctx, http__port=http_port, dicom__port=dicom_port)
    _logging(settings)
    asyncio.run(run(settings))


@main.command()
@_serve_options
@click.option("--no-serve", is_flag=True, help="Only fill the archive, do not serve.")
@click.pass_context
def demo(ctx: click.Context, http_port: int | None, dicom_port: int | None, no_serve: bool) -> None:
    """Fill an empty archive with the synthetic demo set, then serve."""
    from hounsfield.app import serve as run
    from hounsfield.archive import Archive, Origin

    settings = _settings(ctx, http__port=http_port, dicom__port=dicom_port)
    _logging(settings)

    async def fill(archive: Archive) -> None:
        if (await archive.stats())["instances"]:
            click.echo("The archive already holds data; the demo set is not added again.")
            return
        from hounsfield.demo import demo_dataset
        from hounsfield.demo.files import to_bytes

        click.echo("Adding the synthetic demo set ...")
        counts: dict[str, int] = {}
        for ds in demo_dataset():
            result = await archive.ingest_bytes(to_bytes(ds), Origin("demo"))
            counts[result.status.value] = counts.get(result.status.value, 0) + 1
            if not result.ok:
                click.echo(f"  demo object rejected: {result.reason}", err=True)
        click.echo("Demo set: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))

    async def only_fill() -> None:
        archive = await Archive.open(settings)
        try:
            await fill(archive)
        finally:
            await archive.close()

    if no_serve:
        asyncio.run(only_fill())
        return
    click.echo(f"Hounsfield demo: http://localhost:{settings['http.port']}/ "
               f"(DICOM {settings['dicom.ae_title']} on port {settings['dicom.port']})")
    asyncio.run(run(settings, on_ready=fill))


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--workers", type=int, default=0, help="Worker processes (0: one per CPU).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def import_(ctx: click.Context, paths: tuple[str, ...], workers: int, quiet: bool) -> None:
    """Import DICOM files, folders (recursively) and zip archives."""
    from hounsfield.archive.importer import run_import

    settings = _settings(ctx)
    summary = run_import(settings, [Path(p) for p in paths], workers=workers,
                         progress=not quiet)
    click.echo(summary.describe())
    if summary.failed:
        sys.exit(1)


@main.command()
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def reindex(ctx: click.Context, quiet: bool) -> None:
    """Rebuild the whole index from the stored blobs."""
    from hounsfield.archive.maintenance import reindex as run

    settings = _settings(ctx)
    report = run(settings, progress=not quiet)
    click.echo(report.describe())
    if report.failed:
        sys.exit(1)


@main.command()
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def verify(ctx: click.Context, quiet: bool) -> None:
    """Recompute every checksum; report missing, corrupt and orphan blobs."""
    from hounsfield.archive.maintenance import verify as run

    settings = _settings(ctx)
    report = run(settings, progress=not quiet)
    click.echo(report.describe())
    if not report.ok:
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Counts and sizes of what is stored."""
    from hounsfield.archive import ArchiveCore

    core = ArchiveCore(_settings(ctx))
    try:
        numbers = core.stats()
    finally:
        core.close()
    if as_json:
        click.echo(json.dumps(numbers))
        return
    for key, value in numbers.items():
        if key == "size_bytes":
            click.echo(f"{'size':<10} {value / 1e6:,.1f} MB")
        else:
            click.echo(f"{key:<10} {value:,}")


@main.group()
def config() -> None:
    """Show settings or write their documentation."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the effective settings and where each comes from."""
    settings = _settings(ctx)
    rows = []
    for setting, value, source in settings.items():
        shown = "********" if setting.secret and value else value
        rows.append((setting.name, shown, source))
    if as_json:
        click.echo(json.dumps({name: value for name, value, _ in rows}, indent=2))
        return
    width = max(len(s.name) for s in SCHEMA)
    for name, value, source in rows:
        click.echo(f"{name:<{width}}  {json.dumps(value, ensure_ascii=False):<40}  ({source})")


@config.command("docs")
def config_docs() -> None:
    """Print docs/configuration.md, generated from the settings schema."""
    click.echo(render_docs())


def _register_optional_groups() -> None:
    try:
        from hounsfield.dicom.cli import dicom_group
    except ImportError:
        return
    main.add_command(dicom_group)


_register_optional_groups()
from hounsfield.auth.cli import register as _register_auth  # noqa: E402

_register_auth(main)  # user, group, token, anonymize

if __name__ == "__main__":  # pragma: no cover
    main()
