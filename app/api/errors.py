"""Every error the API answers is JSON naming what was wrong: ``{"error": "...",
"param": "limit"}`` with a 4xx status (503 for data not there yet). An unexpected fault
is a 500 saying where the details are, never a traceback on the wire."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.errors import CryptotermError

log = logging.getLogger(__name__)


class ApiError(CryptotermError):
    """A request the API refuses, with the status and the parameter at fault."""

    default_title = "Data API"

    def __init__(self, status: int, message: str, param: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.extra = extra


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # orjson straight to bytes: no response model, no pydantic pass over the data
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_body(message: str, param: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": message, "param": param, **extra}


def _validation_message(err: dict[str, Any]) -> tuple[str | None, str]:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header", "body")]
    param = loc[-1] if loc else None
    ctx = err.get("ctx") or {}
    kind = str(err.get("type", ""))
    if kind == "missing":
        text = "required"
    elif kind in ("int_parsing", "int_from_float"):
        text = f"{err.get('input')!r} is not a whole number"
    elif kind == "greater_than_equal":
        text = f"{err.get('input')} is below the minimum {ctx.get('ge')}"
    elif kind == "less_than_equal":
        text = f"{err.get('input')} is above the maximum {ctx.get('le')}"
    else:
        text = str(err.get("msg", "invalid"))
    return param, f"{param}: {text}" if param else text


def install(app: FastAPI) -> None:
    """Route FastAPI's and Starlette's own errors through the one JSON shape."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return json_response(error_body(exc.message, exc.param, **exc.extra), exc.status)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        param, message = _validation_message(errors[0]) if errors else (None, "invalid request")
        return json_response(error_body(message, param), 400)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: f"no such endpoint: {request.url.path} (see /docs)",
                   405: f"{request.method} is not allowed: the API is read-only (GET only)"
                   }.get(exc.status_code, str(exc.detail))
        return json_response(error_body(message), exc.status_code, dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("API request %s failed", request.url.path)
        return json_response(error_body(f"internal error ({type(exc).__name__}); details in the "
                                        "cryptoterm log"), 500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
