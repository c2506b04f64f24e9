"""The HTTP client the polling sources use to reach devices (exporters, BMCs, PDUs).

TLS is verified by default (``MEGAWATCH_SOURCE_CA_FILE`` names a private CA bundle;
``MEGAWATCH_SOURCE_VERIFY_TLS=false`` only for a lab device); every request has the
timeout ``MEGAWATCH_SOURCE_TIMEOUT_S``. Failures become :class:`ReadError` with one
line naming the URL, never the credentials.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from pipeline.errors import ConfigError
from pipeline.settings import Settings
from pipeline.sources.polling import ReadError

USER_AGENT = "megawatch-agent"


def device_client(settings: Settings, auth: httpx.Auth | None = None) -> httpx.Client:
    """A client with the settings' TLS verification and per-request timeout."""
    verify: ssl.SSLContext | bool = settings.source_verify_tls
    if settings.source_ca_file is not None:
        try:
            verify = ssl.create_default_context(cafile=str(settings.source_ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"MEGAWATCH_SOURCE_CA_FILE: cannot load {settings.source_ca_file}: {exc}"
            ) from None
    return httpx.Client(
        verify=verify,
        timeout=settings.source_timeout_s,
        auth=auth,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


def get(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    """GET ``url``; a transport error or a non-2xx status is a one-line ReadError."""
    try:
        response = client.get(url, **kwargs)
    except httpx.TimeoutException:
        raise ReadError(f"GET {url}: no answer within {client.timeout.read} s") from None
    except httpx.HTTPError as exc:
        raise ReadError(f"GET {url}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if not response.is_success:
        raise ReadError(f"GET {url}: HTTP {response.status_code} {response.reason_phrase}")
    return response


def get_json(client: httpx.Client, url: str, **kwargs: Any) -> dict[str, Any]:
    response = get(client, url, **kwargs)
    try:
        body = response.json()
    except ValueError:
        raise ReadError(f"GET {url}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise ReadError(f"GET {url}: expected a JSON object")
    return body
