# syntax=docker/dockerfile:1
#
# The gateway: `python -m gateway` (waitress), the HTTP API on :8000 with /healthz and /metrics.
# Builds FROM the shared base (deploy/docker/base.Dockerfile), which must be built first:
#   docker build -f deploy/docker/base.Dockerfile -t hongqiao-assist/base:local .
#   docker build -f deploy/docker/gateway.Dockerfile -t hongqiao-assist/gateway:local .
# The health check asks /metrics (this process serves); /healthz (every service answers a
# ping) is the suite's readiness, used by Kubernetes' readiness probe, not by this check.

ARG BASE_IMAGE=hongqiao-assist/base:local

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="hongqiao-assist gateway"
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000
EXPOSE 8000
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "gateway"]
# The gateway installs no SIGTERM handler; as PID 1 it would ignore SIGTERM. Python turns SIGINT
# into KeyboardInterrupt, so `docker stop` ends waitress at once and the RPC client is closed.
STOPSIGNAL SIGINT
CMD ["python", "-m", "gateway"]
