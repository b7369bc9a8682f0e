"""Helpers every route module uses: JSON in, JSON out, ids and the services handle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import Response, current_app, request

from molecule.errors import BadRequest, JSONRejected, PayloadTooLarge
from molecule.jsontext import dumps, loads
from molecule.models import is_uuid
from molecule.services import Services

M = TypeVar("M", bound=BaseModel)

MAX_JSON_BODY = 1024 * 1024


def services() -> Services:
    svc: Services = current_app.config["MOLECULE_SERVICES"]
    return svc


__all__ = ["dumps"]  # re-exported for the raw routes


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        dumps(body), status=status, headers=dict(headers or {}), mimetype="application/json"
    )


def parse_json(raw: bytes | str, error: str) -> Any:
    """A request body as JSON; malformed, empty, too deep, or holding text that cannot be
    stored (molecule.jsontext) -> 400 with the route's message and the reason."""
    try:
        return loads(raw)
    except JSONRejected as exc:
        extra = {} if exc.malformed else {"detail": str(exc)}
        raise BadRequest(error, extra=extra) from None


def parse_object(raw: bytes, error: str) -> dict[str, Any]:
    """A request body as a JSON object; anything else is the route's 400 message."""
    data = parse_json(raw, error)
    if not isinstance(data, dict):
        raise BadRequest(error)
    return data


async def read_json(error: str, *, limit: int = MAX_JSON_BODY) -> Any:
    """The Quart request's body as JSON (413 past `limit`)."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge("request body too large")
    raw = await request.get_data(cache=False, as_text=False)
    if len(raw) > limit:
        raise PayloadTooLarge("request body too large")
    return parse_json(raw, error)


async def read_object(error: str) -> dict[str, Any]:
    """The Quart request's body as a JSON object."""
    data = await read_json(error)
    if not isinstance(data, dict):
        raise BadRequest(error)
    return data


async def read_model(model: type[M], error: str) -> M:
    """Parse and validate the body into `model`; any failure is the route's 400 message."""
    data = await read_object(error)
    try:
        return model.model_validate(data)
    except ValidationError:
        raise BadRequest(error) from None


def require_uuid(value: str, message: str = "invalid workspace ID") -> str:
    if not is_uuid(value):
        raise BadRequest(message)
    return value.lower()


def query_flag(name: str) -> bool:
    return request.args.get(name, "").strip().lower() in {"1", "true", "yes"}


def query_int(name: str, default: int, *, low: int, high: int) -> int:
    """Lenient integer query parameter: junk or out-of-range values fall back or clamp."""
    raw = request.args.get(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    if value < low:
        return default
    return min(value, high)
