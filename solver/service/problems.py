"""RFC 9457 problem details (application/problem+json): type, title, status, detail, and the field at fault.

Every error the service answers is one of these; bad input is a 4xx naming the field, never a 500."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from solver.errors import Problem

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:payerkb:problem:"  # a URN per kind of problem: stable, and resolves nowhere it should not

TITLES = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 406: "Not acceptable", 413: "Request too large",
          415: "Unsupported media type", 422: "Invalid input", 500: "Internal error",
          503: "Service unavailable", 504: "Timed out"}


class ProblemError(Exception):
    """A problem to answer with: raise it anywhere in a request."""

    def __init__(self, status: int, kind: str, detail: str, field: str | None = None,
                 errors: list[Problem] | None = None, title: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.kind, self.detail, self.field = status, kind, detail, field
        self.errors = errors or []
        self.title = title or TITLES.get(status, "Error")
        self.headers = headers

    def body(self, instance: str | None = None) -> dict:
        out = {"type": TYPE_BASE + self.kind, "title": self.title, "status": self.status, "detail": self.detail,
               "field": self.field}
        if instance:
            out["instance"] = instance
        if self.errors:
            out["errors"] = [{"file": p.file, "record": p.record, "field": p.field, "message": p.message} for p in self.errors]
        return out


def from_problems(status: int, kind: str, problems: list[Problem]) -> ProblemError:
    """One problem detail for the problems of one input: the first names the field, all are listed."""
    first = problems[0]
    detail = "; ".join(f"{p.field}: {p.message}" for p in problems[:5]) + ("; ..." if len(problems) > 5 else "")
    return ProblemError(status, kind, detail, first.field, problems)


def response(exc: ProblemError, request: Request | None = None) -> JSONResponse:
    return JSONResponse(exc.body(request.url.path if request else None), status_code=exc.status,
                        media_type=MEDIA_TYPE, headers=exc.headers)


def _field(loc) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "body", "header"):
        parts = parts[1:]
    return ".".join(parts) or "(request)"


def _request_problem(e: dict) -> Problem:
    if e.get("type") == "json_invalid":  # its loc is ("body", character offset): the offset is no field
        at = next((p for p in e.get("loc", ())[1:] if isinstance(p, int)), None)
        where = f" at character {at}" if at is not None else ""
        why = (e.get("ctx") or {}).get("error") or e.get("msg", "invalid JSON")
        return Problem("(request)", "(body)", f"the body is not valid JSON{where} ({why}); send one JSON object")
    return Problem("(request)", _field(e.get("loc", ())), e.get("msg", "invalid").removeprefix("Value error, "))


def install(app: FastAPI) -> None:
    """Answer every error of the app as a problem detail."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError):
        return response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = [_request_problem(e) for e in exc.errors()]
        return response(from_problems(422, "invalid-parameter", problems), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http")
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint {request.url.path}; see /openapi.json or /docs"
        return response(ProblemError(exc.status_code, kind, detail), request)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):  # a defect of the service, never of the input
        return response(ProblemError(500, "internal", f"the service failed ({exc.__class__.__name__}); "
                                     "report it to the maintainers of payerkb"), request)
