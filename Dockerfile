# The Molecule platform (`molecule serve`) for production: compose.yaml runs it next to a
# PostgreSQL server (DATABASE_URL) with the host's Docker socket for the Docker backend;
# README.md, "Production", says how. Build: `docker compose build` or `docker build -t
# molecule-platform .` from the repository root.
#
# PYTHON_IMAGE: Python 3.11 with pip. NODE_IMAGE: Node.js to build the canvas (canvas/, a
# static single-page app the platform serves). Both are pinned to Debian bookworm: its
# PostgreSQL 15 client matches the server compose.yaml runs (the unpinned `-slim` tags have
# moved to a newer Debian).
# PREINSTALLED=1 when PYTHON_IMAGE already holds the platform's Python packages and the
# PostgreSQL client (a base made elsewhere): nothing is downloaded for Python then; the
# canvas stage still fetches its npm packages.
#
# MOLECULE_HOST and MOLECULE_PORT (0.0.0.0:8080) are where `molecule serve` listens and what
# the healthcheck asks; set them at `docker run -e` to move both.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS canvas
WORKDIR /canvas
COPY canvas/package.json canvas/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY canvas/ ./
RUN npm run build

FROM ${PYTHON_IMAGE}
ARG PREINSTALLED=0
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MOLECULE_HOME=/data \
    MOLECULE_HOST=0.0.0.0 \
    MOLECULE_PORT=8080 \
    PYTHONPATH=/app
# pg_dump, pg_restore and psql for `molecule backup` and `molecule restore` (Debian's client:
# at least the server's major version, which is why compose.yaml runs PostgreSQL 15).
RUN if [ "$PREINSTALLED" != 1 ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends postgresql-client git \
      && apt-get clean \
      && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /app
# The dependencies first (from pyproject.toml), so a code change does not reinstall them.
COPY pyproject.toml ./
RUN if [ "$PREINSTALLED" != 1 ]; then \
      python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
      && python3 -m pip install -r /tmp/requirements.txt \
      && rm /tmp/requirements.txt; \
    fi
# The platform runs from its source tree (PYTHONPATH=/app): migrations/ and docker/ (the
# runtime image's Dockerfile) sit next to the package, where it looks for them.
COPY molecule/ molecule/
COPY migrations/ migrations/
COPY docker/ docker/
COPY --from=canvas /canvas/dist/ canvas/dist/
RUN python3 -m compileall -q molecule \
    && printf '#!/bin/sh\nexec python3 -m molecule.cli "$@"\n' > /usr/local/bin/molecule \
    && chmod 755 /usr/local/bin/molecule \
    && groupadd --gid 10001 molecule \
    && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /data --no-create-home molecule \
    && mkdir -p /data \
    && chown molecule:molecule /data \
    && chmod 700 /data
USER molecule
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "/app/docker/healthcheck.py"]
CMD ["molecule", "serve"]
