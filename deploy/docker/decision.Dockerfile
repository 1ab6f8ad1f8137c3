# syntax=docker/dockerfile:1
#
# The decision service: `python -m hqcore.run decision`, Prometheus metrics on :9104/metrics.
# Builds FROM the shared base (deploy/docker/base.Dockerfile), which must be built first:
#   docker build -f deploy/docker/base.Dockerfile -t hongqiao-assist/base:local .
#   docker build -f deploy/docker/decision.Dockerfile -t hongqiao-assist/decision:local .
# Migrations are a one-off command, never part of the start:
#   docker run --rm -e AMQP_URI -e DECISION_DATABASE_URL hongqiao-assist/decision:local \
#       python -m hqops.cli migrate decision

ARG BASE_IMAGE=hongqiao-assist/base:local

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="hongqiao-assist decision"
ENV DECISION_METRICS_PORT=9104
EXPOSE 9104
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "decision"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "hqcore.run", "decision"]
