"""The one retrying GET the source fetchers share. The HTTP client is injected (tests pass a local server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

__all__ = ["FetchError", "Fetcher"]


class FetchError(Exception):
    """A source could not be read (after retries, or a definite HTTP error)."""


@dataclass
class Fetcher:
    """GET with retries on 5xx / 429 / timeouts / connection errors (exponential backoff); thread-safe.

    Fail-fast: after one request has failed for good, every later ``get`` fails at once — a source is read all or
    nothing, so the rest of its requests would be wasted.
    """

    http: httpx.Client
    retries: int = 3
    backoff: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0
    failed: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, missing_ok: bool = False
    ) -> httpx.Response | None:
        """The response (status < 400); None for a 404 / 410 when ``missing_ok``; FetchError otherwise."""
        if self.failed is not None:
            raise FetchError(f"{url}: not read ({self.failed})")
        try:
            return self._get(url, headers, missing_ok)
        except FetchError as e:
            with self._lock:
                self.failed = self.failed or f"an earlier request failed: {e}"
            raise

    def _get(self, url: str, headers: Mapping[str, str] | None, missing_ok: bool) -> httpx.Response | None:
        attempts = max(0, self.retries) + 1
        last = ""
        for attempt in range(attempts):
            if self.failed is not None:
                raise FetchError(f"{url}: not read ({self.failed})")
            with self._lock:
                self.requests += 1
            try:
                resp = self.http.get(url, headers=dict(headers or {}))
            except httpx.TimeoutException as e:
                last = f"timed out ({type(e).__name__})"
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            else:
                code = resp.status_code
                if code < 400:
                    return resp
                if missing_ok and code in (404, 410):
                    return None
                if code < 500 and code != 429:
                    raise FetchError(f"{url}: HTTP {code}{_why(resp)}")
                last = f"HTTP {code}"
            if attempt + 1 < attempts:
                self.sleep(self.backoff * (2**attempt))
        raise FetchError(f"{url}: {last} (after {attempts} attempt{'s' if attempts > 1 else ''})")


def _why(resp: httpx.Response) -> str:
    """GitHub says why in JSON (``{"message": "API rate limit exceeded ..."}``)."""
    try:
        msg = resp.json().get("message")
    except (ValueError, AttributeError):
        return ""
    return f" ({msg})" if isinstance(msg, str) and msg else ""
