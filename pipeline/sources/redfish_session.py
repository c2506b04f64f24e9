"""Talking to one Redfish service: basic or session authentication, JSON GETs.

Credentials come from the settings (``MEGAWATCH_REDFISH_USERNAME``,
``MEGAWATCH_REDFISH_PASSWORD``, ``MEGAWATCH_REDFISH_AUTH=basic|session``) and never
appear in logs or errors. Session auth logs in once (POST to the service's
``SessionService/Sessions``, DSP0266 13.3.4), sends the ``X-Auth-Token`` it got, logs in
again when the service answers 401 (sessions time out), and logs out on close.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from pipeline.errors import ConfigError
from pipeline.settings import Settings
from pipeline.sources.http_devices import device_client, get_json
from pipeline.sources.polling import ReadError

logger = logging.getLogger(__name__)

SERVICE_ROOT = "/redfish/v1"
SESSIONS = "/redfish/v1/SessionService/Sessions"


class RedfishService:
    """JSON GETs against one service root ``http(s)://host:port``, authenticated."""

    def __init__(self, base_url: str, settings: Settings) -> None:
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith(SERVICE_ROOT):  # accept the root with or without the path
            self.base_url = self.base_url[: -len(SERVICE_ROOT)]
        self.mode = settings.redfish_auth
        user, password = settings.redfish_username, settings.redfish_password
        if (user is None) != (password is None):
            raise ConfigError(
                "set both MEGAWATCH_REDFISH_USERNAME and MEGAWATCH_REDFISH_PASSWORD, or neither"
            )
        if self.mode == "session" and user is None:
            raise ConfigError("MEGAWATCH_REDFISH_AUTH=session needs the username and password")
        self._credentials = (user, password.get_secret_value()) if user and password else None
        basic = None
        if self._credentials and self.mode == "basic":
            basic = httpx.BasicAuth(*self._credentials)
        self.client = device_client(settings, auth=basic)
        self._token: str | None = None
        self._session_url: str | None = None

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def get(self, path: str) -> dict[str, Any]:
        """The JSON resource at ``path`` (an @odata.id); ReadError on any failure."""
        if self.mode == "session" and self._token is None:
            self.login()
        try:
            return get_json(self.client, self.url(path), headers=self._headers())
        except ReadError as exc:
            if self.mode != "session" or "HTTP 401" not in str(exc):
                raise
        self.login()  # the session expired: one new one, then give up for this read
        return get_json(self.client, self.url(path), headers=self._headers())

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "OData-Version": "4.0"}
        if self._token:
            headers["X-Auth-Token"] = self._token
        return headers

    def login(self) -> None:
        assert self._credentials is not None
        user, password = self._credentials
        try:
            response = self.client.post(
                self.url(SESSIONS), json={"UserName": user, "Password": password}
            )
        except httpx.HTTPError as exc:
            raise ReadError(f"POST {self.url(SESSIONS)}: {type(exc).__name__}") from None
        token = response.headers.get("X-Auth-Token")
        if not response.is_success or not token:
            raise ReadError(
                f"POST {self.url(SESSIONS)}: login refused (HTTP {response.status_code}); "
                "check MEGAWATCH_REDFISH_USERNAME/PASSWORD"
            )
        self._token = token
        location = response.headers.get("Location")
        if location and location.startswith("/"):
            location = self.url(location)
        self._session_url = location

    def close(self) -> None:
        if self._token and self._session_url:
            try:
                self.client.delete(self._session_url, headers=self._headers())
            except httpx.HTTPError:
                logger.debug("logout from %s failed", self.base_url)
        self._token = None
        self.client.close()
