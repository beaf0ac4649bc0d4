#!/usr/bin/env bash
# Scalekit's official SDKs, unmodified and pinned, against tokenmint over TLS on one port:
# builds tokenmint, makes a throwaway CA and a certificate for localhost/127.0.0.1, starts a
# throwaway redis-server and `tokenmint serve --dev` on them (an RS256 key: the Python SDK
# validates RS256 tokens only), installs the SDKs into a throwaway venv and node folder, and
# runs scripts/sdk-compat/python_sdk.py and node_sdk.mjs. The SDKs trust the CA through
# GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, REQUESTS_CA_BUNDLE and NODE_EXTRA_CA_CERTS.
#
# Knobs: SDK_PYTHON_VERSION (2.21.0), SDK_NODE_VERSION (2.11.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_SDK=${SDK_PYTHON_VERSION:-2.21.0}
NODE_SDK=${SDK_NODE_VERSION:-2.11.0}

for tool in redis-server redis-cli openssl python3 curl node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "sdk-compat.sh: $tool is missing (scripts/test.sh installs redis-server)" >&2; exit 1; }
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
  echo "sdk-compat.sh: no free port" >&2; return 1
}

echo "sdk-compat.sh: building tokenmint" >&2
cargo build --locked --bin tokenmint >&2
BIN=target/debug/tokenmint

# A throwaway CA and a server certificate it signed.
(
  cd "$work"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -keyout ca.key -out ca.pem -subj "/CN=tokenmint sdk-compat CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
    -out server.pem -extfile ext.cnf 2>/dev/null
  chmod 600 server.key ca.key
)

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$work" \
  --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

port=$(free_port)
origin="https://localhost:$port"
mkdir -m 700 "$work/keys"
TOKENMINT_SERVER__BIND="127.0.0.1:$port" \
TOKENMINT_SERVER__ISSUER="$origin" \
TOKENMINT_SERVER__TLS__CERT="$work/server.pem" \
TOKENMINT_SERVER__TLS__KEY="$work/server.key" \
TOKENMINT_REDIS__URL="redis://127.0.0.1:$redis_port" \
TOKENMINT_REDIS__KEY_PREFIX="sdkcompat" \
TOKENMINT_KEYS__DIR="$work/keys" \
TOKENMINT_TOKENS__MIN_EXPIRY=1 \
  "$BIN" serve --dev >"$work/admin.json" 2>"$work/server.log" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf --cacert "$work/ca.pem" "$origin/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf --cacert "$work/ca.pem" "$origin/healthz" >/dev/null || { cat "$work/server.log" >&2; exit 1; }
admin=$(head -n 1 "$work/admin.json")
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$admin" "$1"; }

echo "sdk-compat.sh: installing scalekit-sdk-python==$PYTHON_SDK into a throwaway venv" >&2
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "scalekit-sdk-python==$PYTHON_SDK" >&2

export GRPC_DEFAULT_SSL_ROOTS_FILE_PATH="$work/ca.pem"
export REQUESTS_CA_BUNDLE="$work/ca.pem"
export NODE_EXTRA_CA_CERTS="$work/ca.pem"
export SCALEKIT_ENVIRONMENT_URL="$origin"
SCALEKIT_CLIENT_ID=$(field client_id)
SCALEKIT_CLIENT_SECRET=$(field client_secret)
export SCALEKIT_CLIENT_ID SCALEKIT_CLIENT_SECRET
if ! "$work/venv/bin/python" scripts/sdk-compat/python_sdk.py; then
  echo "sdk-compat.sh: server log:" >&2
  tail -n 40 "$work/server.log" >&2
  exit 1
fi

echo "sdk-compat.sh: installing @scalekit-sdk/node@$NODE_SDK into a throwaway folder" >&2
mkdir "$work/node"
cp scripts/sdk-compat/node_sdk.mjs "$work/node/"
(cd "$work/node" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "@scalekit-sdk/node@$NODE_SDK" >&2)
if ! node "$work/node/node_sdk.mjs"; then
  echo "sdk-compat.sh: server log:" >&2
  tail -n 40 "$work/server.log" >&2
  exit 1
fi
