#!/usr/bin/env bash
# Runs the whole test suite against a throwaway redis-server.
#
# Installs redis-server through the system package manager when it is missing and this
# runs as root, starts it on a free loopback port with persistence off, runs `cargo test`
# (extra arguments are passed on), and stops it again whatever happens.
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
port=""
for _ in $(seq 1 50); do
  candidate=$((20000 + RANDOM % 40000))
  if port_free "$candidate"; then port=$candidate; break; fi
done
[ -n "$port" ] || { echo "test.sh: no free port found" >&2; exit 1; }

workdir=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir "$workdir" --daemonize no --loglevel warning >"$workdir/redis.log" 2>&1 &
redis_pid=$!
cleanup() { kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; rm -rf "$workdir"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  if redis-cli -p "$port" ping >/dev/null 2>&1; then break; fi
  sleep 0.1
done
redis-cli -p "$port" ping >/dev/null || { cat "$workdir/redis.log" >&2; echo "test.sh: redis-server did not start" >&2; exit 1; }

export TOKENMINT_TEST_REDIS_URL="redis://127.0.0.1:$port"
echo "test.sh: redis-server on 127.0.0.1:$port" >&2
cargo test --locked "$@"
