# syntax=docker/dockerfile:1
#
# The payments service: `python -m hqcore.run payments`, Prometheus metrics on :9105/metrics.
# Builds FROM the shared base (deploy/docker/base.Dockerfile), which must be built first:
#   docker build -f deploy/docker/base.Dockerfile -t hongqiao-assist/base:local .
#   docker build -f deploy/docker/payments.Dockerfile -t hongqiao-assist/payments:local .
# Migrations are a one-off command, never part of the start:
#   docker run --rm -e AMQP_URI -e PAYMENTS_DATABASE_URL hongqiao-assist/payments:local \
#       python -m hqops.cli migrate payments

ARG BASE_IMAGE=hongqiao-assist/base:local

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="hongqiao-assist payments"
ENV PAYMENTS_METRICS_PORT=9105
EXPOSE 9105
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "payments"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "hqcore.run", "payments"]
