"""Read queries wherever the store is: opened here, or through the worker that owns it.

chDB lets one process own a data directory. While a worker runs on the embedded store,
``megawatch sql``, ``query``, ``alerts list``... cannot open it, so they send the query
to the worker's ``/api/sql`` (loopback, read-only queries) and get the same DataFrame.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from pipeline.errors import StoreError, StoreInUseError

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.settings import Settings


def read_query(settings: Settings, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Run a read query on the store, or through the worker that owns the embedded one."""
    from pipeline.store import open_store

    try:
        with open_store(settings) as store:
            return store.query_df(sql, params)
    except StoreInUseError:
        return query_worker(settings, sql, params or {})
    except StoreError as exc:
        raise StoreError(store_hint(str(exc))) from exc


def store_hint(message: str) -> str:
    """Point at the fix for the common first-run error: tables not created yet."""
    if "UNKNOWN_TABLE" in message or "Unknown table" in message:
        return f"{message} (create the tables with `megawatch db migrate`)"
    return message


def query_worker(settings: Settings, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    import httpx
    import pandas as pd

    url = f"http://{settings.web_host}:{settings.web_port}/api/sql"
    try:
        response = httpx.post(url, json={"sql": sql, "params": params}, timeout=60)
    except httpx.HTTPError as exc:
        raise StoreError(
            f"the store is in use by a worker, and its web endpoint {url} does not answer "
            f"({type(exc).__name__}); check MEGAWATCH_WEB_HOST/MEGAWATCH_WEB_PORT"
        ) from exc
    if response.status_code != 200:
        try:
            detail = response.json().get("error", response.text)
        except ValueError:
            detail = response.text
        raise StoreError(store_hint(f"query through the worker failed: {str(detail)[:300]}"))
    return pd.read_json(io.StringIO(response.text), orient="split")
