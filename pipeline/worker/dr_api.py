"""Demand-response events over HTTP, on the worker's port: what a utility's or an
aggregator's system calls (docs/power-dynamics.md).

* ``POST /api/dr``: a :class:`pipeline.events.DemandResponse` as JSON; published to
  ``control.dr`` (201 once Kafka has it). 422 with the reason for an invalid event.
* ``GET /api/dr``: the events the worker knows, as a JSON list.
* ``DELETE /api/dr/{id}``: cancel it (ended now if under way, forgotten if not started;
  409 if it is over).

Every request needs ``Authorization: Bearer <MEGAWATCH_DR_TOKEN>``; without a token
configured the endpoint answers 404 (off). Tokens are compared in constant time and
never logged.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.web import Request, Response, View
from pydantic import ValidationError

from pipeline.demand.control import cancelled
from pipeline.errors import ConfigError
from pipeline.events import DemandResponse
from pipeline.kafka.compacted import encoded
from pipeline.settings import Settings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

#: (key, value or None) -> delivered to control.dr
Publish = Callable[[bytes, bytes | None], Awaitable[Any]]


def dr_token(settings: Settings) -> str | None:
    """MEGAWATCH_DR_TOKEN, or the first line of MEGAWATCH_DR_TOKEN_FILE."""
    if settings.dr_token is not None and settings.dr_token_file is not None:
        raise ConfigError("set MEGAWATCH_DR_TOKEN or MEGAWATCH_DR_TOKEN_FILE, not both")
    if settings.dr_token is not None:
        token = settings.dr_token.get_secret_value().strip()
    elif settings.dr_token_file is not None:
        try:
            token = settings.dr_token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"MEGAWATCH_DR_TOKEN_FILE: cannot read {settings.dr_token_file}: {exc.strerror}"
            ) from None
    else:
        return None
    if not token:
        raise ConfigError("the DR endpoint's bearer token is empty (MEGAWATCH_DR_TOKEN[_FILE])")
    return token


def register_dr_views(
    app: faust.App,
    token: str | None,
    events: Callable[[], dict[str, DemandResponse]],
    publish: Publish,
) -> None:
    """``/api/dr`` on the worker's web server (404 throughout when ``token`` is None)."""

    def refused(view: View, request: Request) -> Response | None:
        if token is None:
            return view.json({"error": "the DR endpoint is off (MEGAWATCH_DR_TOKEN)"}, status=404)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            return view.json(
                {"error": "a bearer token is needed"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    @app.page("/api/dr")
    class Events(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            no = refused(self, request)
            if no is not None:
                return no
            return self.json(
                [e.model_dump(mode="json", exclude_none=True) for e in events().values()]
            )

        async def post(self, request: Request, **kwargs: Any) -> Response:
            no = refused(self, request)
            if no is not None:
                return no
            body = await request.read()
            if len(body) > MAX_BODY_BYTES:
                return self.json({"error": f"body over {MAX_BODY_BYTES} bytes"}, status=413)
            try:
                event = DemandResponse.model_validate_json(body)
            except ValidationError as exc:
                return self.json({"error": _reason(exc)}, status=422)
            await publish(event.id.encode(), encoded(event))
            logger.info("DR event %s published for %s", event.id, event.scope)
            return self.json(event.model_dump(mode="json", exclude_none=True), status=201)

    @app.page("/api/dr/{event_id}")
    class Event(View):
        async def delete(self, request: Request, event_id: str = "", **kwargs: Any) -> Response:
            no = refused(self, request)
            if no is not None:
                return no
            event = events().get(event_id)
            if event is None:
                return self.json({"error": f"no DR event {event_id}"}, status=404)
            try:
                cut = cancelled(event, int(time.time() * 1000))
            except ConfigError as exc:
                return self.json({"error": str(exc)}, status=409)
            await publish(event.id.encode(), None if cut is None else encoded(cut))
            state = "forgotten" if cut is None else "cancelled"
            return self.json({"id": event.id, "status": state})


def _reason(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
