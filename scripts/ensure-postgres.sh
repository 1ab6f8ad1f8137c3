#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 and lets `postgres` in without a password
# (the PostgreSQL tests connect as postgresql://postgres@127.0.0.1:5432/...).
#   listening            -> check `psql -h 127.0.0.1 -U postgres -c 'select 1'`
#   stopped              -> start the cluster with pg_ctlcluster
#   not installed        -> as root: apt-get install postgresql, then start it
#   local login refused  -> as root: allow `postgres` from 127.0.0.1/::1 in pg_hba.conf (trust)
#   otherwise            -> print what to run and exit 1
set -euo pipefail

host=127.0.0.1
port=5432
marker="# added by hongqiao-assist scripts/ensure-postgres.sh"

say() { echo "ensure-postgres: $*" >&2; }
is_root() { [ "$(id -u)" -eq 0 ]; }
listening() { timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; }
can_login() { psql -h "$host" -p "$port" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; }
# "<version> <cluster>" of the cluster on our port, else the newest version's "main".
cluster() {
  pg_lsclusters -h 2>/dev/null | awk -v p="$port" '$3 == p { print $1, $2; exit }' | grep . \
    || echo "$(ls /etc/postgresql | sort -V | tail -n 1) main"
}

if ! listening; then
  if ! command -v pg_ctlcluster >/dev/null; then
    if is_root && command -v apt-get >/dev/null; then
      say "PostgreSQL is not installed; installing postgresql"
      apt-get update
      DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
    else
      say "PostgreSQL is not installed. Run:"
      echo "    sudo apt-get update && sudo apt-get install -y postgresql" >&2
      echo "    sudo pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
      exit 1
    fi
  fi
  if ! listening; then   # the package's install script may have started it already
    read -r version name <<<"$(cluster)"
    if ! is_root; then
      say "PostgreSQL is installed but not running. Run:"
      echo "    sudo pg_ctlcluster --skip-systemctl-redirect $version $name start" >&2
      exit 1
    fi
    say "starting PostgreSQL $version/$name"
    pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
    for _ in $(seq 1 30); do listening && break; sleep 1; done
    listening || { say "PostgreSQL started but nothing listens on $host:$port"; exit 1; }
  fi
fi
say "PostgreSQL is listening on $host:$port"

if ! command -v psql >/dev/null; then
  say "psql is missing. Run:"
  echo "    sudo apt-get install -y postgresql-client" >&2
  exit 1
fi
can_login && exit 0

read -r version name <<<"$(cluster)"
hba=/etc/postgresql/$version/$name/pg_hba.conf
rules=("host all postgres 127.0.0.1/32 trust" "host all postgres ::1/128 trust")
if ! is_root || [ ! -f "$hba" ] || grep -qF "$marker" "$hba"; then
  say "'psql -h $host -U postgres' is refused. Allow local logins for postgres, e.g. put these"
  say "lines first in $hba, then reload:"
  printf '    %s\n' "${rules[@]}" >&2
  echo "    sudo pg_ctlcluster --skip-systemctl-redirect $version $name reload" >&2
  exit 1
fi
say "allowing postgres to log in from $host without a password ($hba)"
{ echo "$marker"; printf '%s\n' "${rules[@]}"; cat "$hba"; } > "$hba.new"
chown --reference="$hba" "$hba.new"
chmod --reference="$hba" "$hba.new"
mv "$hba.new" "$hba"
pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload
sleep 1
can_login || { say "psql -h $host -U postgres still fails"; exit 1; }
