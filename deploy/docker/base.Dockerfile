# syntax=docker/dockerfile:1
#
# The shared base of every Hongqiao assistance image (see deploy/docker/README.md).
# Build from the repository root:
#   docker build -f deploy/docker/base.Dockerfile -t hongqiao-assist/base:local .
#
# Stage "build" installs the pinned requirements into a virtual environment and compiles the
# source to bytecode; stage "runtime" copies only the venv and the source onto a fresh slim
# image, without pip's caches or build tools, and runs as the unprivileged user "hq".
# The base runs no service: each service's Dockerfile builds FROM it and sets the command.
# Migrations are never run at start: `python -m hqops.cli migrate <service>` is a one-off
# command run from this image (compose: the <service>-migrate services).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY requirements.txt /build/requirements.txt
RUN /opt/venv/bin/pip install --no-compile -r /build/requirements.txt
COPY hqcore /app/hqcore
COPY hqops /app/hqops
COPY services /app/services
COPY gateway /app/gateway
COPY deploy/docker/healthcheck.py /app/deploy/docker/healthcheck.py
RUN find /app -name '__pycache__' -prune -exec rm -rf {} + \
 && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv /app

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="hongqiao-assist base" \
      org.opencontainers.image.description="Hongqiao social-assistance case management: shared runtime of the services and the gateway"
# A numeric user, so that Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 hq \
 && useradd --system --uid 10001 --gid hq --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin hq \
 && install -d -o hq -g hq -m 0750 /var/lib/hq
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HQ_VAR_DIR=/var/lib/hq \
    HQ_QUEUE_TYPE=quorum
WORKDIR /app
USER 10001:10001
CMD ["python", "-m", "hqops.cli", "--help"]
