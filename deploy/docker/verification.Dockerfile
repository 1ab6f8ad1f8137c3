# syntax=docker/dockerfile:1
#
# The verification service: `python -m hqcore.run verification`, Prometheus metrics on :9102/metrics.
# Builds FROM the shared base (deploy/docker/base.Dockerfile), which must be built first:
#   docker build -f deploy/docker/base.Dockerfile -t hongqiao-assist/base:local .
#   docker build -f deploy/docker/verification.Dockerfile -t hongqiao-assist/verification:local .
# Migrations are a one-off command, never part of the start:
#   docker run --rm -e AMQP_URI -e VERIFICATION_DATABASE_URL hongqiao-assist/verification:local \
#       python -m hqops.cli migrate verification

ARG BASE_IMAGE=hongqiao-assist/base:local

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="hongqiao-assist verification"
ENV VERIFICATION_METRICS_PORT=9102
EXPOSE 9102
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "verification"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "hqcore.run", "verification"]
