"""GET /workbench: the workbench page (index.html, app.js, style.css beside this file), served as it ships.

The page is static: it asks the service's own routes (/v1/payers, /v1/check, /v1/compare, /v1/explain) from
the browser, so nothing is rendered here and nothing is fetched from anywhere else. The Content-Security-Policy
says so to the browser: scripts, styles and requests only from this origin, no inline script or style."""
from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from solver.service.problems import ProblemError

router = APIRouter()

# the files of the page, by the name they are asked for: no other name is read from the package
FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "style.css": "text/css; charset=utf-8"}
HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                      "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


def _file(name: str) -> Response:
    if name not in FILES:
        raise ProblemError(404, "not-found", f"the workbench has no file {name!r}; it serves {sorted(FILES)}", "name")
    data = resources.files(__name__).joinpath(name).read_bytes()
    return Response(data, media_type=FILES[name], headers=HEADERS)


@router.get("/workbench", include_in_schema=False)
async def page() -> Response:
    return _file("index.html")


@router.get("/workbench/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    return _file(name)
