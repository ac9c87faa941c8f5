"""Requests the app refuses before Gradio sees them (an ASGI middleware).

- **DNS rebinding.** Bound to this machine only, the app answers only requests whose ``Host``
  is this machine (127.0.0.1, localhost, [::1], with any port): a web page elsewhere whose name
  was made to point at 127.0.0.1 cannot drive the local app (probe files through the VAE path,
  run computations).
- **No URL fetching.** Gradio's file route fetches ``/gradio_api/file=http…`` on the server; this
  app reads only what a visitor uploads, so any URL there is refused (also percent-encoded).
- **Bounded bodies.** A request body larger than ``max_body`` (uploads have their own cap) is
  refused before it is read into memory.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

__all__ = ["Guard", "LOCAL_HOSTS", "is_local_host", "is_url_file_route"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_local_host(host_header: str) -> bool:
    """Whether a Host header names this machine: ``127.0.0.1:7860``, ``localhost``, ``[::1]:80``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def is_url_file_route(path: str) -> bool:
    """Whether a request path asks Gradio's file route for a URL (``file=http://…``,
    ``file=//host/…``), however often it is percent-encoded."""
    for _ in range(4):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    marker = path.find("/file=")
    if marker < 0:
        return False
    target = path[marker + len("/file=") :].lstrip().lower()
    return target.startswith(("http:", "https:", "//", "\\\\", "ftp:", "file:"))


class Guard:
    """ASGI middleware: refuse foreign Host headers (when ``local``), URL file routes, and
    bodies over ``max_body`` bytes; everything else goes to ``app``."""

    def __init__(self, app, local: bool = True, max_body: int = 32 * 2**20, upload_max: int = 26 * 2**20):
        self.app, self.local, self.max_body, self.upload_max = app, local, max_body, upload_max

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.local and not is_local_host(headers.get("host", "")):
            return await _refuse(scope, send, 421, "This app serves this machine only (Host must be localhost or 127.0.0.1).")
        path = scope.get("path", "")
        raw = scope.get("raw_path") or b""
        if is_url_file_route(path) or is_url_file_route(raw.decode("latin-1", "replace")):
            return await _refuse(scope, send, 403, "This app does not fetch URLs: upload the file instead.")
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_max if "/upload" in path else self.max_body
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _refuse(scope, send, 413, f"Request too large: at most {limit // 2**20} MB.")
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise ValueError("request body over the limit")
            return message

        return await self.app(scope, counted, send)


async def _refuse(scope, send, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
