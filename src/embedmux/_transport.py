"""The HTTP transport: one pooled connection per provider, behind a two-method ``Sender``.

The pipeline needs very little from HTTP: POST bytes, get back status, headers
and body. ``Sender`` is exactly that, with two implementations:

- ``AiohttpSender`` (``transport="aiohttp"``, and ``"auto"``): aiohttp's
  client directly. At concurrency 64 it measured several times faster than
  httpx's pool, and about 2.5x faster than httpx's API over aiohttp's pool
  (``httpx-aiohttp``), whose request and response models cost more than the
  whole of embedmux (benchmarks/bench_http.py).
- ``HttpxSender`` (``transport="httpx"``, or whenever an ``httpx`` transport is
  injected: respx, ``httpx.MockTransport``, a proxy or custom TLS set-up).

Both raise ``SendError`` for a request that got no HTTP answer, and they own
the request's deadline: ``timeout_seconds`` bounds the whole request (pool
wait, connect, send, the last byte of the answer), so a stalled or dribbling
server never hangs a call. The provider maps ``SendError`` (with its name,
secrets redacted) to embedmux's exceptions.
A sender's pool belongs to the event loop it was built in.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

from embedmux._optimization import OptimizationConfig

if TYPE_CHECKING:
    import httpx


class Reply(NamedTuple):
    """An HTTP answer: status, case-insensitive headers, the (decompressed) body."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class SendError(Exception):
    """No HTTP answer: ``timed_out`` tells a timeout from a failed or dropped connection."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Sender(Protocol):
    """POSTs request bodies to one base URL over a connection pool."""

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        """POST ``body`` to ``path`` (relative to the base URL, may carry a query)."""
        ...

    async def aclose(self) -> None:
        """Close the pool."""
        ...


def default_headers(config: OptimizationConfig) -> dict[str, str]:
    """Headers on every request of every provider."""
    from embedmux import __version__

    return {
        "user-agent": f"embedmux/{__version__}",
        "accept-encoding": "gzip, deflate" if config.compression_enabled else "identity",
        "content-type": "application/json",
    }


def make_sender(
    config: OptimizationConfig,
    *,
    base_url: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Sender:
    """The sender ``config.transport`` names; an injected httpx ``transport`` means httpx."""
    if transport is not None or config.transport == "httpx":
        return HttpxSender(config, base_url=base_url, transport=transport)
    return AiohttpSender(config, base_url=base_url)


class HttpxSender:
    """httpx's ``AsyncClient``: its own pool, or an injected transport."""

    def __init__(
        self,
        config: OptimizationConfig,
        *,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        import httpx

        size = config.connection_pool_size
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        # httpx times each phase (connect, each read...); the deadline bounds their sum
        self._deadline = config.timeout_seconds
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=default_headers(config),
            timeout=httpx.Timeout(config.timeout_seconds),
            limits=limits,
            transport=transport,  # None: httpx builds its pool, with proxies from the environment
        )

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        import httpx

        try:
            async with asyncio.timeout(self._deadline):
                response = await self._client.post(path, content=body, headers=headers)
        except builtins.TimeoutError:
            raise SendError(f"no answer within {self._deadline}s", timed_out=True) from None
        except httpx.TransportError as e:
            raise SendError(
                f"{type(e).__name__}: {e}", timed_out=isinstance(e, httpx.TimeoutException)
            ) from None
        return Reply(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()


class AiohttpSender:
    """aiohttp's ``ClientSession``: no cookie jar (an API client has no use for one), one
    pool of ``connection_pool_size`` connections. Build it inside the event loop that uses it.

    ``ClientTimeout(total=timeout_seconds)`` is the request's deadline. The proxy comes
    from the environment (``HTTP(S)_PROXY``, ``NO_PROXY``, netrc), as
    with httpx, but is looked up once here: aiohttp's ``trust_env`` looks it up again in
    a worker thread on every request, which cost about a fifth of a single-input call.
    """

    def __init__(self, config: OptimizationConfig, *, base_url: str) -> None:
        import aiohttp
        from aiohttp.helpers import get_env_proxy_for_url
        from yarl import URL

        self._base_url = base_url.rstrip("/")
        self._deadline = config.timeout_seconds
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=config.connection_pool_size, limit_per_host=0),
            headers=default_headers(config),
            timeout=aiohttp.ClientTimeout(total=config.timeout_seconds),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None
        with contextlib.suppress(LookupError):  # no proxy for this URL
            self._proxy, self._proxy_auth = get_env_proxy_for_url(URL(self._base_url))

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        import aiohttp

        url, proxy, auth = self._base_url + path, self._proxy, self._proxy_auth
        try:
            async with self._session.post(
                url, data=body, headers=headers, proxy=proxy, proxy_auth=auth
            ) as r:
                return Reply(r.status, r.headers, await r.read())
        except builtins.TimeoutError:  # the deadline (aiohttp's ServerTimeoutError too)
            raise SendError(f"no answer within {self._deadline}s", timed_out=True) from None
        except (aiohttp.ClientError, OSError) as e:
            raise SendError(f"{type(e).__name__}: {e}", timed_out=False) from None

    async def aclose(self) -> None:
        await self._session.close()
