#!/usr/bin/env bash
# Install and start Debian's PostgreSQL on 127.0.0.1 for the external-server
# variant of the storage tests, then print the export line that enables it:
#
#     eval "$(bash tests/storage/start_external_postgres.sh)"
#
# Needs root and apt-get.  Safe to run again: it reuses a running cluster,
# an existing role and an existing database.  Progress goes to stderr.
set -euo pipefail

ROLE=cryptobot_test
PASSWORD=cryptobot_test
DATABASE=cryptobot_test

export DEBIAN_FRONTEND=noninteractive
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
fi
VERSION=$(ls /etc/postgresql | sort -V | tail -n 1)

# Listen on loopback only.  A throw-away test server need not survive a power cut.
cat > "/etc/postgresql/$VERSION/main/conf.d/cryptobot-tests.conf" <<CONF
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
CONF

if pg_ctlcluster "$VERSION" main status >/dev/null 2>&1; then
    pg_ctlcluster "$VERSION" main restart >&2
else
    pg_ctlcluster "$VERSION" main start >&2
fi

su postgres -c "psql -q -v ON_ERROR_STOP=1" >&2 <<SQL
SELECT 'CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD ''$PASSWORD'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') \gexec
SELECT 'CREATE DATABASE $DATABASE OWNER $ROLE'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE') \gexec
SQL

PORT=$(su postgres -c "psql -tAc 'SHOW port'")
echo "export CRYPTOBOT_TEST_EXTERNAL_DATABASE_URL=postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
