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
  wait_for "RabbitMQ node" rabbitmq-diagnostics -q ping
  if ! rabbitmq-diagnostics -q check_running >/dev/null 2>&1; then  # the node is up, its app stopped
    echo "starting the RabbitMQ application"
    rabbitmqctl -q start_app || true
  fi
  wait_for RabbitMQ rabbitmq-diagnostics -q check_port_connectivity
  if [ "${CI:-}" = "true" ]; then
    # A test session deletes its own vhost at its end; one that was killed leaves it, with its queues,
    # and queues hold broker file handles: a broker out of them stops accepting connections.
    for vhost in $(rabbitmqctl -q list_vhosts name | grep '^jobruntime-test-' || true); do
      echo "deleting the stale test vhost $vhost"
      rabbitmqctl -q delete_vhost "$vhost"
    done
  fi
  used=$(rabbitmq-diagnostics -q status | sed 's/\x1b\[[0-9;]*m//g' | grep -A2 'File Descriptors' | tail -1)
  echo "RabbitMQ file descriptors: ${used}"
fi
