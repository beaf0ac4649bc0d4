#!/usr/bin/env bash
# Runs the whole test suite against a throwaway redis-server and a throwaway three-node
# Redis Cluster, then the API suite again on the in-memory store, then Scalekit's official
# SDKs against the server (scripts/sdk-compat.sh), Schemathesis against /openapi.json
# (scripts/api-fuzz.sh) and the README's walk-through (scripts/walkthrough.sh).
#
# Installs redis-server through the system package manager when it is missing and this
# runs as root, starts the servers on free loopback ports with persistence off, runs
# `cargo test` (extra arguments are passed on), and stops them again whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing redis-server" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq redis-server >/dev/null
  else
    echo "test.sh: redis-server is missing; install it (e.g. apt-get install redis-server) and re-run" >&2
    exit 1
  fi
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A free port in 10000-22000 whose cluster bus port (port + 10000) is free too. Each server
# is started before the next port is chosen, so no two get the same one. Both stay below
# the kernel's ephemeral range (32768 and up), where an outgoing connection of a running
# test may hold a port that a connect probe reports as free.
free_port() {
  local candidate
  for _ in $(seq 1 100); do
    candidate=$((10000 + RANDOM % 12000))
    if port_free "$candidate" && port_free $((candidate + 10000)); then
      echo "$candidate"
      return 0
    fi
  done
  echo "test.sh: no free port found" >&2
  return 1
}

workdir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$workdir"
}
trap cleanup EXIT

start_redis() { # $1 port, then extra redis-server arguments
  local port=$1
  shift
  mkdir -p "$workdir/$port"
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$workdir/$port" --daemonize no --loglevel warning "$@" >"$workdir/$port/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  cat "$workdir/$port/redis.log" >&2
  echo "test.sh: redis-server on port $port did not start" >&2
  exit 1
}

port=$(free_port)
start_redis "$port"

# The cluster: three primaries, no replicas.
nodes=()
for _ in 1 2 3; do
  node=$(free_port)
  start_redis "$node" --cluster-enabled yes --cluster-config-file "$workdir/nodes-$node.conf"
  nodes+=("$node")
done
redis-cli --cluster create "${nodes[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$workdir/cluster.log" 2>&1 ||
  { cat "$workdir/cluster.log" >&2; echo "test.sh: the Redis Cluster did not form" >&2; exit 1; }
for _ in $(seq 1 100); do
  if redis-cli -p "${nodes[0]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then break; fi
  sleep 0.1
done
redis-cli -p "${nodes[0]}" cluster info | grep -q 'cluster_state:ok' ||
  { echo "test.sh: the Redis Cluster is not ok" >&2; exit 1; }

export TMTEST_REDIS_URL="redis://127.0.0.1:$port"
TMTEST_REDIS_CLUSTER_URLS=$(printf 'redis://127.0.0.1:%s,' "${nodes[@]}")
export TMTEST_REDIS_CLUSTER_URLS=${TMTEST_REDIS_CLUSTER_URLS%,}
echo "test.sh: redis-server on 127.0.0.1:$port, Redis Cluster on ports ${nodes[*]}" >&2
cargo test --locked "$@"
# The whole API suite again on the in-memory store of `serve --dev` (tests that need the
# shared Redis itself say so and skip).
echo "test.sh: the API suite again on the in-memory store" >&2
TOKENMINT_TEST_STORE=memory cargo test --locked --test api "$@" -- --show-output
# Scalekit's official SDKs against the real server (a throwaway venv; skipped when the run
# was given a test filter).
if [ $# -eq 0 ]; then
  echo "test.sh: the official Scalekit SDKs against tokenmint" >&2
  bash scripts/sdk-compat.sh
  echo "test.sh: contract fuzzing of /openapi.json (Schemathesis)" >&2
  bash scripts/api-fuzz.sh
  echo "test.sh: the README's walk-through" >&2
  bash scripts/walkthrough.sh
fi
