"""The Docker backend: one container per workspace on a real Docker Engine.

- `engine`: the aiodocker client driven from Trio (each operation one asyncio coroutine).
- `naming`: the original's container, volume and label names.
- `container_spec`: what a workspace's container is created with (env, mounts, tier limits,
  network, ports).
- `archive`: tar in and out of volumes (credentials 0600, template copies, file reads).
- `provisioner`: `DockerProvisioner`, the `Provisioner` protocol on containers.
- `exits`: the Engine's event stream, so a container that dies is noticed at once.
- `images`, `debian_base`: the built-in runtime image and, where no registry base can be
  pulled, a Debian base made with debootstrap.
- `terminal`: a shell in a workspace's container (exec), bridged to a WebSocket.
"""
