"""The platform container's healthcheck (Dockerfile, compose.yaml): `GET /health`.

Argument: the address `molecule serve` listens on, `host:port` (0.0.0.0 or :: is checked on
127.0.0.1); without one, MOLECULE_HOST and MOLECULE_PORT, which `molecule serve` reads too,
so the image's check follows a changed port. Under TLS (MOLECULE_TLS_CERTFILE set) it asks
over HTTPS without checking the certificate: the question is whether this process answers,
not who it is. Exit 0 healthy, 1 not (with the reason on stderr). Standard library only.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request


def main(argv: list[str]) -> int:
    env_address = (
        f"{os.environ.get('MOLECULE_HOST', '').strip() or '127.0.0.1'}:"
        f"{os.environ.get('MOLECULE_PORT', '').strip() or '8080'}"
    )
    address = argv[1] if len(argv) > 1 else env_address
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address in a URL
    tls = bool(os.environ.get("MOLECULE_TLS_CERTFILE", "").strip())
    url = f"{'https' if tls else 'http'}://{host}:{port}/health"
    context = ssl._create_unverified_context() if tls else None
    try:
        with urllib.request.urlopen(url, timeout=4, context=context) as answer:
            if answer.status == 200:
                return 0
            print(f"unhealthy: {url} answered {answer.status}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", with its reason
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
