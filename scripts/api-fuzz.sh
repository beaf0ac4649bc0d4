#!/usr/bin/env bash
# Contract fuzzing: Schemathesis (pinned, in a throwaway venv) against tokenmint's own
# /openapi.json. Starts a throwaway redis-server and `tokenmint serve --dev` on it, makes a
# few clients and credentials for the path parameters to hit (with the admin CLI), then
# runs every phase (examples, coverage, fuzzing, stateful) with the checks: no 5xx,
# documented status codes and content types, responses matching their schemas, and
# schema-violating requests refused. Any failure fails the script.
#
# Knobs: SCHEMATHESIS_VERSION (4.32.5), FUZZ_EXAMPLES (examples per operation, 25),
# FUZZ_SEED (a fixed seed reproduces a run).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
EXAMPLES=${FUZZ_EXAMPLES:-25}

for tool in redis-server redis-cli python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "api-fuzz.sh: $tool is missing (scripts/test.sh installs redis-server)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local candidate
  for _ in $(seq 1 100); do
    candidate=$((10000 + RANDOM % 12000))
    if port_free "$candidate"; then echo "$candidate"; return 0; fi
  done
  echo "api-fuzz.sh: no free port" >&2; return 1
}

echo "api-fuzz.sh: building tokenmint" >&2
cargo build --locked --bin tokenmint >&2
BIN=$PWD/target/debug/tokenmint

echo "api-fuzz.sh: installing Schemathesis $VERSION into a throwaway venv" >&2
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$VERSION" >&2

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$work" \
  --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

port=$(free_port)
base="http://127.0.0.1:$port"
mkdir -m 700 "$work/keys"
# Generous brute-force limits: the fuzzer's token requests fail by the thousand from one
# address, and a lockout (429, documented) would hide the endpoint's other answers.
TOKENMINT_SERVER__BIND="127.0.0.1:$port" \
TOKENMINT_REDIS__URL="redis://127.0.0.1:$redis_port" \
TOKENMINT_REDIS__KEY_PREFIX="apifuzz" \
TOKENMINT_KEYS__DIR="$work/keys" \
TOKENMINT_BRUTEFORCE__MAX_PER_ADDRESS=1000000 \
TOKENMINT_BRUTEFORCE__MAX_PER_CLIENT_ADDRESS=1000000 \
  "$BIN" serve --dev >"$work/admin.json" 2>"$work/server.log" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "$base/healthz" >/dev/null || { cat "$work/server.log" >&2; exit 1; }

admin=$(head -n 1 "$work/admin.json")
field() { python3 -c "import json,sys; v=json.loads(sys.argv[1])
for k in sys.argv[2:]: v=v[int(k)] if k.isdigit() else v[k]
print(v)" "$@"; }
export TOKENMINT_URL=$base
export TOKENMINT_ADMIN_ID=$(field "$admin" client_id)
export TOKENMINT_ADMIN_SECRET=$(field "$admin" client_secret)
export TM_ADMIN_ID=$TOKENMINT_ADMIN_ID TM_ADMIN_SECRET=$TOKENMINT_ADMIN_SECRET
export TM_ADMIN_TOKEN=$("$BIN" token --client-id "$TOKENMINT_ADMIN_ID" --client-secret "$TOKENMINT_ADMIN_SECRET" --output json | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])")

# Resources for the path parameters: an organization client with a second secret, and a
# /v1 client with a credential.
org=org_fuzz
created=$("$BIN" clients create --org "$org" --name "fuzz target" --scope fuzz:read --output json)
export TM_ORG=$org
export TM_ORG_CLIENT=$(field "$created" client client_id)
added=$("$BIN" secrets add "$TM_ORG_CLIENT" --org "$org" --output json)
export TM_ORG_SECRET=$(field "$added" secret id)
v1=$("$BIN" clients create --name "fuzz v1 target" --scope fuzz:read --output json)
export TM_CLIENT=$(field "$v1" name | cut -d/ -f2)
credential=$("$BIN" secrets add "$TM_CLIENT" --display-name fuzz --output json)
export TM_CREDENTIAL=$(field "$credential" name | cut -d/ -f4)

seed=()
[ -n "${FUZZ_SEED:-}" ] && seed=(--generation-seed "$FUZZ_SEED")
echo "api-fuzz.sh: Schemathesis against $base/openapi.json ($EXAMPLES examples per operation)" >&2
"$work/venv/bin/schemathesis" --config-file scripts/api-fuzz/schemathesis.toml run "$base/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$EXAMPLES" --workers 2 "${seed[@]}" || {
    echo "api-fuzz.sh: Schemathesis found failures (server log: last lines below)" >&2
    tail -n 20 "$work/server.log" >&2
    exit 1
  }
# No error of tokenmint's own in its log (actix's HTTP parser logs a client's malformed
# header at ERROR too: that one is the client's, and is not counted), and no panic.
if grep -v 'actix_http::h1::dispatcher' "$work/server.log" | grep -q ' ERROR \|panicked'; then
  grep -v 'actix_http::h1::dispatcher' "$work/server.log" | grep ' ERROR \|panicked' | head -n 5 >&2
  echo "api-fuzz.sh: the server logged errors under fuzzing" >&2
  exit 1
fi
echo "api-fuzz.sh: no failures" >&2
