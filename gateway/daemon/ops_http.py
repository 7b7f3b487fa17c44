"""``/healthz`` and Prometheus ``/metrics`` on a small asyncio HTTP server.

Bind it to loopback or a management network: it has no authentication and
its metrics carry clinic ids (never patient data).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from gateway.daemon.metrics import ACK_LATENCY, JOURNALED, LATENCY_BOUNDS, gauge, histogram_lines
from gateway.delivery.outbox import metric_lines as outbox_metric_lines
from gateway.store import Store


def render_metrics(store: Store, extra: Callable[[], list[str]] | None = None) -> str:
    """The Prometheus text exposition of store-wide and in-process metrics."""
    counts = store.counts()
    lines = gauge(
        "gateway_messages",
        "Messages by clinic and stage (status)",
        (({"clinic": c or "", "status": s}, n) for c, s, n in counts),
    )
    depth = sum(n for _, s, n in counts if s == "received")
    lines += gauge("gateway_queue_depth", "Messages waiting for a worker", [({}, depth)])
    oldest = store.oldest_pending()
    lines += gauge(
        "gateway_oldest_pending_seconds",
        "Age of the oldest waiting message",
        [({}, time.time() - oldest if oldest else 0)],
    )
    cumulative, total, count = store.latency_histogram(LATENCY_BOUNDS)
    per_bucket = [b - a for a, b in zip([0, *cumulative], cumulative, strict=False)] + [
        count - (cumulative[-1] if cumulative else 0)
    ]
    lines += [
        "# HELP gateway_processing_latency_seconds Time from journaled to processed, per message",
        "# TYPE gateway_processing_latency_seconds histogram",
    ]
    lines += histogram_lines("gateway_processing_latency_seconds", {}, LATENCY_BOUNDS, per_bucket, total)
    lines += ACK_LATENCY.render() + JOURNALED.render()
    lines += outbox_metric_lines(store)
    if extra:
        lines += extra()
    return "\n".join(lines) + "\n"


class OpsServer:
    """Serves ``/healthz`` (200 when ``healthy()``) and ``/metrics``."""

    def __init__(self, store: Store, host: str, port: int, healthy: Callable[[], dict]) -> None:
        self.store, self.host, self.port, self.healthy = store, host, port, healthy
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            loop = asyncio.get_running_loop()
            if path == "/healthz":
                state = self.healthy()
                status = "200 OK" if state.get("ok") else "503 Service Unavailable"
                body, ctype = json.dumps(state).encode(), "application/json"
            elif path == "/metrics":
                text = await loop.run_in_executor(None, render_metrics, self.store)
                status, body, ctype = "200 OK", text.encode(), "text/plain; version=0.0.4"
            else:
                status, body, ctype = "404 Not Found", b"not found\n", "text/plain"
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
