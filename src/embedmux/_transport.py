"""The HTTP transport: one pooled ``httpx.AsyncClient`` per provider.

``transport="aiohttp"`` (and ``"auto"``) puts httpx's API over aiohttp's
connection pool (the ``httpx-aiohttp`` package), which measured several times
faster than httpx's own pool at high concurrency; ``"httpx"`` keeps httpx's.
"""

from __future__ import annotations

import httpx

from embedmux._optimization import OptimizationConfig


def _pool_limits(config: OptimizationConfig) -> httpx.Limits:
    size = config.connection_pool_size
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


def make_transport(config: OptimizationConfig) -> httpx.AsyncBaseTransport:
    """The transport ``config.transport`` names, with a pool of ``connection_pool_size``."""
    limits = _pool_limits(config)
    if config.transport == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits)
    from httpx_aiohttp import AiohttpTransport

    transport: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits)
    return transport


def build_http_client(
    config: OptimizationConfig,
    *,
    base_url: str,
    headers: dict[str, str],
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client for one provider; ``transport`` is injectable (tests, custom proxies)."""
    from embedmux import __version__

    headers = {
        "user-agent": f"embedmux/{__version__}",
        "accept-encoding": "gzip, deflate" if config.compression_enabled else "identity",
        **headers,
    }
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(config.timeout_seconds),
        limits=_pool_limits(config),
        transport=transport or make_transport(config),
    )
