#!/usr/bin/env bash
# Make sure `promtool` and `prometheus` (Debian package `prometheus`) are installed: the unit
# tests check the rules with promtool, the end-to-end tests start their own Prometheus server.
#   both found           -> nothing to do
#   missing, as root     -> apt-get install prometheus, without leaving a server running
#   missing, not root    -> print what to run and exit 1
# The tests start Prometheus themselves on a free port; a server started by the package's
# init scripts would hold port 9090 and scrape nothing useful, so this script prevents it
# (a policy-rc.d that denies service starts during the install) and stops one that runs anyway.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin:/usr/bin"
say() { echo "ensure-prometheus: $*" >&2; }
installed() { command -v promtool >/dev/null && command -v prometheus >/dev/null; }

if installed; then
  say "promtool and prometheus found ($(prometheus --version 2>&1 | head -n 1))"
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  say "promtool/prometheus are not installed. Run:"
  echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus" >&2
  echo "    sudo systemctl disable --now prometheus   # the tests start their own server" >&2
  exit 1
fi

say "installing Debian's prometheus package (promtool and the server binary)"
policy=/usr/sbin/policy-rc.d
backup=""
if [ -e "$policy" ]; then
  backup=$(mktemp)
  cp -p "$policy" "$backup"
fi
restore_policy() {
  if [ -n "$backup" ]; then mv -f "$backup" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# ensure-prometheus.sh: no service starts while installing\nexit 101\n' >"$policy"
chmod 755 "$policy"

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus

# If a server was started anyway (a running systemd, for instance), stop it and keep it off.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/prometheus ]; then
  /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi
for _ in $(seq 1 20); do
  if ! (exec 3<>/dev/tcp/127.0.0.1/9090) 2>/dev/null; then break; fi
  sleep 0.5
done
if (exec 3<>/dev/tcp/127.0.0.1/9090) 2>/dev/null; then
  say "installed, but something still listens on 127.0.0.1:9090; if it is the package's"
  say "server, stop it: sudo systemctl disable --now prometheus (or /etc/init.d/prometheus stop)"
  exit 1
fi

if ! installed; then
  say "the prometheus package is installed but promtool/prometheus are not on PATH"
  exit 1
fi
say "installed: $(prometheus --version 2>&1 | head -n 1)"
