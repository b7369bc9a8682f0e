"""TLS for `molecule serve --certfile/--keyfile`: what listens where.

With TLS on, the address the operator chose (`--host/--port`) speaks only HTTPS (hypercorn
offers HTTP/2 and HTTP/1.1 there). The agents the platform runs itself still need to reach
it, and they connect to the URL it hands them: a certificate made for the platform's public
name would not verify for `127.0.0.1`, and a self-signed one not at all. So the platform also
listens on a loopback port of the kernel's choosing in plain HTTP, and that is the URL its
agents get (`agent_url`), as containers on the Docker backend's bridge get a plain listener
on the bridge's gateway: traffic that never leaves the machine. Without TLS nothing changes.

The files were checked when the settings were read (molecule.config.tls_files).
"""

from __future__ import annotations

from hypercorn.config import Config

from molecule.config import Settings

AGENT_LISTENER = "127.0.0.1:0"


def apply(config: Config, settings: Settings) -> None:
    """Turn TLS on in `config` when the settings name a certificate."""
    if settings.tls_certfile is None or settings.tls_keyfile is None:
        return
    config.certfile = str(settings.tls_certfile)
    config.keyfile = str(settings.tls_keyfile)
    config.insecure_bind = [AGENT_LISTENER]


def add_container_binds(config: Config, binds: list[str]) -> None:
    """The Docker bridge's listeners (molecule.provision.backend.container_binds): plain
    HTTP under TLS, like the agents' loopback one."""
    if config.ssl_enabled:
        config.insecure_bind = [*config.insecure_bind, *binds]
    else:
        config.bind = [*config.bind, *binds]


def agent_url(binds: list[str]) -> str:
    """The URL agents get: the first plain-HTTP listener, else the first one."""
    for bind in binds:
        if bind.startswith("http://"):
            return bind.rstrip("/")
    return binds[0].rstrip("/")
