# The built-in agent runtime (`molecule agent`) in a container: the image echo and llm
# workspaces run from (molecule/provision/docker/images.py builds it; `molecule images build`).
#
# The build context is made by the platform, not taken from the repository: `deps/` holds the
# runtime's Python packages as installed in the platform's own environment (an unpacked
# wheelhouse, so nothing is downloaded at build time) and `molecule/` the modules the agent
# program imports. Their packages are built for one Python version (PYTHON_VERSION), which
# the base image must have.
#
# BASE: a Python base from a registry (default python:3.11-slim), or, where none can be
# pulled, `molecule-base:bookworm`: a minimal Debian with python3 made with debootstrap.
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG PYTHON_VERSION=3.11
RUN python3 -c "import sys; v = '%d.%d' % sys.version_info[:2]; sys.exit(0 if v == '${PYTHON_VERSION}' else 'the base image has Python ' + v + '; the runtime packages are for Python ${PYTHON_VERSION}: choose a base image with it (MOLECULE_RUNTIME_BASE_IMAGE)')"
COPY deps/ /app/
RUN python3 -m compileall -q /app
COPY molecule/ /app/molecule/
RUN python3 -m compileall -q /app/molecule
ENV PYTHONPATH=/app PYTHONUNBUFFERED=1
WORKDIR /workspace
EXPOSE 8000
ENTRYPOINT ["python3", "-m", "molecule.runtime.main"]
