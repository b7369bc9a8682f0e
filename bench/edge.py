"""CPU per request of the edge middleware (molecule/http/edge.py), without any network.

    .venv/bin/python bench/edge.py [--requests 20000] [--repeat 7]

Calls a stub ASGI app (answers 200 with one header) directly, then through `Edge` with the
security headers only, then with the rate limit too (a bearer token per request, as on the
A2A path; a limit it never reaches), and prints microseconds per request: the best of
`--repeat` runs, since on this machine other tenants only ever add time. The difference is
what the edge costs each request; bench/README.md ("The edge") relates it to the A2A proxy.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import trio

from molecule.http.edge import Edge
from molecule.http.edge_limits import RateLimiter
from molecule.http.edge_policy import EdgePolicy

HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"content-type", b"application/json"),
    (b"authorization", b"Bearer 0123456789abcdef0123456789abcdef0123456"),
    (b"content-length", b"120"),
]


async def stub(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
    await send({"type": "http.response.body", "body": b"{}", "more_body": False})


async def run(app: Any, requests: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/workspaces/0f7c1e2a-0000-4000-8000-000000000000/a2a",
        "scheme": "http",
        "headers": HEADERS,
        "client": ("127.0.0.1", 40000),
    }
    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - started) / requests * 1e6


async def main(requests: int, repeat: int) -> None:
    sides = {
        "stub app alone": stub,
        "edge, headers only": Edge(stub, EdgePolicy(), None),
        "edge, headers + rate limit": Edge(stub, EdgePolicy(), RateLimiter(10**9)),
    }
    best = {
        name: min([await run(app, requests) for _ in range(repeat)]) for name, app in sides.items()
    }
    base = best["stub app alone"]
    for name, us in best.items():
        print(f"{name:28s} {us:6.2f} us/request   (+{us - base:5.2f} us)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    trio.run(main, args.requests, args.repeat)
