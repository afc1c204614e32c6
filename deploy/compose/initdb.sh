#!/bin/sh
# Runs once, when the compose PostgreSQL volume is created (docker-entrypoint-initdb.d):
# the two least-privilege roles and the database, from deploy/postgres/roles.sql.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v owner_password="$MR_OWNER_PASSWORD" -v app_password="$MR_APP_PASSWORD" \
     -f /docker-entrypoint-initdb.d/roles.sql.in
