# syntax=docker/dockerfile:1
#
# The intake service: `python -m hqcore.run intake`, Prometheus metrics on :9101/metrics.
# Builds FROM the shared base (deploy/docker/base.Dockerfile), which must be built first:
#   docker build -f deploy/docker/base.Dockerfile -t hongqiao-assist/base:local .
#   docker build -f deploy/docker/intake.Dockerfile -t hongqiao-assist/intake:local .
# Migrations are a one-off command, never part of the start:
#   docker run --rm -e AMQP_URI -e INTAKE_DATABASE_URL hongqiao-assist/intake:local \
#       python -m hqops.cli migrate intake

ARG BASE_IMAGE=hongqiao-assist/base:local

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="hongqiao-assist intake"
ENV INTAKE_METRICS_PORT=9101
EXPOSE 9101
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "intake"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "hqcore.run", "intake"]
