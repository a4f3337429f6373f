"""The desk console: a FastAPI app of server-rendered Korean pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from dolbom.settings import Settings, get_settings
from storage.db import Database


def create_app(*, database: Database, settings: Settings | None = None) -> FastAPI:
    """Return the console app bound to a database."""
    settings = settings or get_settings()
    app = FastAPI(title="dolbom 통합창구", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.database = database
    app.state.settings = settings

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        try:
            async with database.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # the probe must answer, whatever the database says
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app
