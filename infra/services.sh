#!/usr/bin/env bash
# Start the local services the tests use (PostgreSQL, RabbitMQ) if they are down, and wait for them.
set -euo pipefail

wait_for() {  # wait_for <name> <command...>
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then echo "$name is up"; return 0; fi
    sleep 1
  done
  echo "$name did not come up" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi
wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432

if command -v rabbitmq-diagnostics >/dev/null 2>&1; then
  if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached || true
  fi
  wait_for RabbitMQ rabbitmq-diagnostics -q ping
fi
