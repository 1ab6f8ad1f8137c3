# syntax=docker/dockerfile:1
#
# The supervision service: `python -m hqcore.run supervision`, Prometheus metrics on :9106/metrics.
# Builds FROM the shared base (deploy/docker/base.Dockerfile), which must be built first:
#   docker build -f deploy/docker/base.Dockerfile -t hongqiao-assist/base:local .
#   docker build -f deploy/docker/supervision.Dockerfile -t hongqiao-assist/supervision:local .
# Migrations are a one-off command, never part of the start:
#   docker run --rm -e AMQP_URI -e SUPERVISION_DATABASE_URL hongqiao-assist/supervision:local \
#       python -m hqops.cli migrate supervision

ARG BASE_IMAGE=hongqiao-assist/base:local

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="hongqiao-assist supervision"
ENV SUPERVISION_METRICS_PORT=9106
EXPOSE 9106
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "supervision"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "hqcore.run", "supervision"]
