# syntax=docker/dockerfile:1
#
# The publicity service: `python -m hqcore.run publicity`, Prometheus metrics on :9103/metrics.
# Builds FROM the shared base (deploy/docker/base.Dockerfile), which must be built first:
#   docker build -f deploy/docker/base.Dockerfile -t hongqiao-assist/base:local .
#   docker build -f deploy/docker/publicity.Dockerfile -t hongqiao-assist/publicity:local .
# Migrations are a one-off command, never part of the start:
#   docker run --rm -e AMQP_URI -e PUBLICITY_DATABASE_URL hongqiao-assist/publicity:local \
#       python -m hqops.cli migrate publicity

ARG BASE_IMAGE=hongqiao-assist/base:local

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="hongqiao-assist publicity"
ENV PUBLICITY_METRICS_PORT=9103
EXPOSE 9103
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "publicity"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "hqcore.run", "publicity"]
