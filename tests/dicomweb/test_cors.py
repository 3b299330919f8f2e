"""CORS for browser viewers on other origins, as the http.cors_origins setting says."""

from __future__ import annotations

import httpx

from hounsfield.archive import Archive
from hounsfield.config import load_settings
from hounsfield.web.app import create_app



async def test_cors_allows_only_the_configured_origin(tmp_path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), auth__enabled=False,
                             http__cors_origins=["https://viewer.example"])
    archive = await Archive.open(settings)
    app = create_app(settings, archive)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as client:
            preflight = await client.options("/dicom-web/studies", headers={
                "Origin": "https://viewer.example", "Access-Control-Request-Method": "GET"})
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == "https://viewer.example"
            simple = await client.get("/dicom-web/studies",
                                      headers={"Origin": "https://viewer.example"})
            assert simple.headers["access-control-allow-origin"] == "https://viewer.example"
            assert "ETag" in simple.headers["access-control-expose-headers"]
            other = await client.get("/dicom-web/studies",
                                     headers={"Origin": "https://elsewhere.example"})
            assert "access-control-allow-origin" not in other.headers
    finally:
        await app.state.dicomweb.pool.close()
        await archive.close()
