#!/usr/bin/env bash
# Find a Python 3.11 that can create virtual environments and print its path on stdout
# (messages go to stderr). Looks on PATH, then /usr/bin/python3.11. If there is none, or it
# cannot run `-m venv` (Debian ships ensurepip in python3.11-venv), installs python3.11 and
# python3.11-venv when root on Debian; otherwise says what to run and exits 1.
set -euo pipefail

say() { echo "ensure-python: $*" >&2; }
find_python() {
  local candidate
  for candidate in "$(command -v python3.11 || true)" /usr/bin/python3.11; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    if "$candidate" -c 'import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
      "$candidate" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

find_python && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  say "installing python3.11 and python3.11-venv"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3.11 python3.11-venv >&2
  find_python && exit 0
fi
say "no Python 3.11 that can create virtual environments was found. Run:"
echo "    sudo apt-get update && sudo apt-get install -y python3.11 python3.11-venv" >&2
exit 1
