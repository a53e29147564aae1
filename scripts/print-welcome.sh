#!/usr/bin/env bash
# What `make run` prints before it starts the gateway: where it listens and how to
# create the first account.
set -euo pipefail

host=${SECGATE_HOST:-127.0.0.1}
port=${SECGATE_PORT:-8080}
case $host in *:*) host="[$host]" ;; esac # an IPv6 address goes in brackets in a URL

cat <<TEXT

SecGate is starting on http://$host:$port/  (health: http://$host:$port/healthz)

Create the first account, from another terminal in this directory:

  .venv/bin/python -m secgate user create --username alice --password 'choose-a-long-password' --mobile 96550012345 --country KW
  .venv/bin/python -m secgate user create --username security --password 'another-long-password' --mobile 96560012345 --country KW --role staff
  .venv/bin/python -m secgate token create --role staff

Stop with Ctrl-C (or SIGTERM): requests in flight are finished first.

TEXT
