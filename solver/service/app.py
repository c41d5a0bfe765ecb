"""The FastAPI app: create_app(settings) builds the engine, the worker pool and the decision log in its
lifespan, includes its own routers and those of solver/service/routers.py, and answers errors as problem
details. The docs page is served here, without a CDN: a plain HTML page made from the OpenAPI document."""
from __future__ import annotations

import html
from contextlib import asynccontextmanager
from importlib import import_module

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from solver import __version__
from solver.encounter import Encounter
from solver.service import check, info, problems
from solver.service.routers import ROUTERS
from solver.service.state import Service, Settings


def _service(settings: Settings) -> Service:
    from solver.engine import Engine
    from solver.formats.payer_map import PayerMap, default_path
    from solver.paths import POLICIES_DIR
    from solver.service.decision_log import DecisionLog
    from solver.service.pool import WorkerPool
    root = settings.policies_dir or POLICIES_DIR
    engine = Engine(policies_dir=root)
    path = settings.payer_map or default_path(root)
    payer_map = PayerMap.load(path, set(engine.policies.payers)) if path.is_file() else None
    return Service(settings, engine, WorkerPool(settings.workers, root, settings.timeout),
                   DecisionLog(settings.decision_log, settings.log_inputs), payer_map)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = app.state.service = _service(settings)
        await service.pool.warm()
        try:
            yield
        finally:  # uvicorn has finished the requests in flight; the pool finishes its work, then stops
            service.pool.shutdown()
            service.log.close()

    app = FastAPI(title="payerkb", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Check trigger point injection claims against payer policy (contract v1).")
    problems.install(app)
    app.include_router(check.router)
    app.include_router(info.router)
    for module, attribute in ROUTERS:
        app.include_router(getattr(import_module(module), attribute))

    def openapi():  # the Encounter model of the contract, referenced by POST /v1/check
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema = Encounter.model_json_schema(ref_template="#/components/schemas/{model}")
            comps = doc.setdefault("components", {}).setdefault("schemas", {})
            comps.update(schema.pop("$defs", {}))
            comps["Encounter"] = schema
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def docs():
        return HTMLResponse(docs_page(app.openapi()))

    return app


def docs_page(doc: dict) -> str:
    """A self-contained page listing every endpoint (no script, nothing fetched from elsewhere)."""
    rows = []
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            params = ", ".join(p["name"] for p in op.get("parameters", []))
            body = ", ".join(op.get("requestBody", {}).get("content", {}))
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op.get('summary', ''))}</td><td>{html.escape(params)}</td><td>{html.escape(body)}</td></tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>payerkb API</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left;vertical-align:top}</style>"
            f"</head><body><h1>payerkb {html.escape(doc['info']['version'])}</h1><p>{html.escape(doc['info'].get('description', ''))}</p>"
            "<p>The full description: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3). Errors are RFC 9457 problem "
            "details (application/problem+json).</p><table><tr><th>method</th><th>path</th><th>what</th><th>parameters</th>"
            f"<th>body</th></tr>{''.join(rows)}</table></body></html>")
