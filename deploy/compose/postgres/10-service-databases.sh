#!/bin/bash
# Run once by the postgres image, on the first start with an empty data directory
# (/docker-entrypoint-initdb.d). For every service, and for the gateway's session store: a login
# role hq_<name> with the password from <NAME>_DB_PASSWORD, and a database hq_<name> owned by
# that role, which no other role may connect to. They never share a database or a login.
# A database added later (a new service; the gateway's, on a volume created before it existed)
# needs the same three statements run by hand (deploy/compose/README.md).
set -euo pipefail

SERVICES="intake verification publicity decision payments supervision"
# The gateway's sessions and failed logins (gateway/sessions.py, GATEWAY_DATABASE_URL).
DATABASES="$SERVICES gateway"

for service in $DATABASES; do
  password_variable="${service^^}_DB_PASSWORD"
  password="${!password_variable:?${password_variable} is not set}"
  # psql variables (:"name" quotes an identifier, :'name' a literal), so no value is spliced
  # into SQL text.
  psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
       -v role="hq_${service}" -v password="${password}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
  echo "hq_${service}: role and database created"
done
