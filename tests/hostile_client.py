"""A raw client of Gradio's queue, as a hostile script would use it: no browser, no
gradio_client checks, any JSON for any input. Loopback only."""

from __future__ import annotations

import json
import uuid

import httpx


def call(base: str, fn_index: int, data: list, session: str | None = None, timeout: float = 120.0, headers: dict | None = None) -> dict:
    """Join the queue with ``data`` for event ``fn_index`` and read the stream to its end: the
    last message (``process_completed`` with ``output``, or an error)."""
    assert base.startswith(("http://127.", "http://localhost", "http://[::1]")), base
    session = session or uuid.uuid4().hex[:10]
    body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None})
    with httpx.Client(base_url=base, timeout=timeout, headers=headers or {}) as client:
        joined = client.post("/gradio_api/queue/join", content=body, headers={"content-type": "application/json"})
        if joined.status_code != 200:
            return {"msg": "refused", "status": joined.status_code, "text": joined.text}
        last = {}
        with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                last = json.loads(line[5:])
                if last.get("msg") in ("process_completed", "close_stream", "unexpected_error"):
                    break
        return last
