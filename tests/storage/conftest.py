"""Fixtures for blob store tests: a real S3-compatible server over HTTP, and the stores.

``s3_server`` is session-scoped and reusable by any test that needs S3 (moto's server
mode, on loopback, on a port the OS picks).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from hounsfield.config import Settings
from hounsfield.storage import BlobStore, open_store


_CLIENTS: dict[str, Any] = {}


@dataclass(frozen=True)
class S3Server:
    """Where the test S3 server listens, and the credentials it accepts."""

    endpoint_url: str
    region: str = "us-east-1"
    access_key_id: str = "testing"
    secret_access_key: str = "testing"

    def client(self) -> Any:
        """A boto3 S3 client for this server (created once; boto3 clients are thread-safe)."""
        client = _CLIENTS.get(self.endpoint_url)
        if client is None:
            client = _CLIENTS[self.endpoint_url] = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint_url, region_name=self.region,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key)
        return client

    def create_bucket(self) -> str:
        """A new empty bucket with a unique name."""
        name = f"test-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, data_dir: Path, bucket: str, prefix: str = "", **changes: Any) -> Settings:
        """Settings whose ``storage.url`` points at ``bucket`` on this server."""
        url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return Settings().replace(
            data_dir=str(data_dir), storage__url=url,
            storage__s3_endpoint_url=self.endpoint_url, storage__s3_region=self.region,
            storage__s3_access_key_id=self.access_key_id,
            storage__s3_secret_access_key=self.secret_access_key, **changes)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-compatible HTTP server (moto) on 127.0.0.1, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


BACKENDS = ("filesystem", "memory", "s3")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    """Each blob store, built by ``open_store`` from settings as the archive does."""
    settings = Settings().replace(data_dir=str(tmp_path / "data"))
    if request.param == "filesystem":
        settings = settings.replace(storage__url=f"file://{tmp_path / 'blobs'}")
    elif request.param == "memory":
        settings = settings.replace(storage__url="memory://")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        settings = server.settings(tmp_path / "data", server.create_bucket(), "archive/blobs")
    blob_store = open_store(settings)
    try:
        yield blob_store
    finally:
        blob_store.close()
