#!/usr/bin/env bash
# Benchmark of tokenmint on this machine, in one run: builds release, starts a throwaway
# redis-server and the server, installs its load generator (wrk) when missing, measures,
# prints a table and writes BENCHMARKS.md.
#
# Knobs (environment): BENCH_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_COLD (500),
# BENCH_SEED (100000), BENCH_ROUNDS (4: alternating /healthz and ES256 token runs, the metrics-on and -off servers in either order).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
COLD=${BENCH_COLD:-500}
SEED=${BENCH_SEED:-100000}
ROUNDS=${BENCH_ROUNDS:-4}
ORG=org_bench

install_missing() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    local packages=("${missing[@]/redis-server/redis-server}")
    apt-get install -y -qq "${packages[@]}" >/dev/null
  else
    echo "bench.sh: missing ${missing[*]}; install them and re-run" >&2
    exit 1
  fi
}
install_missing redis-server wrk curl python3

echo "bench.sh: building release (binary and benchmark helpers)" >&2
cargo build --release --locked --bin tokenmint --example bench_sign --example seed --example bench_grpc --example bench_assertions >&2
BIN=target/release/tokenmint

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --daemonize no \
  --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.1; done
export TOKENMINT_REDIS__URL="redis://127.0.0.1:$REDIS_PORT"
export TOKENMINT_REDIS__KEY_PREFIX=bench
export TOKENMINT_LOG__LEVEL=warn

SERVER_PID=""
PORT=""
BASE=""
PEAK_RSS_KB=0

start_server() { # $1 = RS256 | ES256 | EdDSA
  local keys="$work/keys-$1"
  "$BIN" keys generate --alg "$1" --dir "$keys" >/dev/null
  PORT=$(free_port)
  BASE="http://127.0.0.1:$PORT"
  TOKENMINT_KEYS__DIR="$keys" TOKENMINT_SERVER__BIND="127.0.0.1:$PORT" \
    "$BIN" serve >"$work/server-$1.log" 2>&1 &
  SERVER_PID=$!
  pids+=("$SERVER_PID")
  until curl -sf "$BASE/readyz" >/dev/null 2>&1; do sleep 0.1; done
}

stop_server() {
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
  [ "$hwm" -gt "$PEAK_RSS_KB" ] && PEAK_RSS_KB=$hwm
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
}

token_lua() { # $1 id, $2 secret -> a wrk script posting a token request
  cat >"$work/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&client_id=$1&client_secret=$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
  echo "$work/token.lua"
}

# Runs wrk; prints "requests/s p99_ms errors".
measure() { # $1 connections, $2 seconds, $3 url, [$4 lua script]
  local out
  if [ $# -ge 4 ]; then
    out=$(wrk -t2 -c"$1" -d"$2"s --latency -s "$4" "$3")
  else
    out=$(wrk -t2 -c"$1" -d"$2"s --latency "$3")
  fi
  echo "$out" >>"$work/wrk.log"
  python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
err = re.search(r"Socket errors:.*", out)
print(f"{rps:.0f} {p99:.2f} {int(bad.group(1)) if bad else 0}{' (' + err.group(0) + ')' if err else ''}")
PY
}

admin_token() {
  local admin
  admin=$("$BIN" bootstrap-admin --name bench)
  ADMIN_ID=$(echo "$admin" | json '["client_id"]')
  ADMIN_SECRET=$(echo "$admin" | json '["client_secret"]')
  ADMIN_TOKEN=$(curl -s -u "$ADMIN_ID:$ADMIN_SECRET" -d grant_type=client_credentials "$BASE/oauth/token" | json '["access_token"]')
}

create_client() { # prints "id secret"
  curl -s -X POST "$BASE/api/v1/organizations/$ORG/clients" -H "Authorization: Bearer $ADMIN_TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{"name":"bench","scopes":["read:things","write:things"],"audience":["https://api.example.com"],"custom_claims":[{"key":"environment","value":"production"}]}' |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["client"]["client_id"], d["plain_secret"])'
}

# In-process signing rate of one algorithm, measured right before its token runs (the
# machine's speed drifts, so a rate from minutes earlier would skew the ratio).
declare -A SIGN
sign_rate() { # $1 = ES256 | EdDSA | RS256
  local alg rate
  read -r alg rate < <(target/release/examples/bench_sign 2 "$1")
  SIGN[$alg]=$rate
}
CORES=$(nproc)

declare -A TOKEN
echo "bench.sh: ES256 server: /healthz, warm tokens, cold storm, admin, 100k clients" >&2
start_server ES256
admin_token
read -r WARM_ID WARM_SECRET < <(create_client)
curl -sf -d grant_type=client_credentials -d "client_id=$WARM_ID" -d "client_secret=$WARM_SECRET" "$BASE/oauth/token" >/dev/null
# The machine's speed drifts between runs (on a shared VM by tens of percent within a
# minute), so /healthz and the ES256 token endpoint are measured in alternating rounds;
# each round gives one ratio, and the table shows medians.
cp "$(token_lua "$WARM_ID" "$WARM_SECRET")" "$work/warm.lua"
sign_rate ES256
# A second server on the same keys and Redis with metrics off, measured in the same rounds:
# what /metrics costs the token endpoint.
OFF_PORT=$(free_port)
TOKENMINT_METRICS__ENABLED=false TOKENMINT_KEYS__DIR="$work/keys-ES256" \
  TOKENMINT_SERVER__BIND="127.0.0.1:$OFF_PORT" "$BIN" serve >"$work/server-off.log" 2>&1 &
OFF_PID=$!
pids+=("$OFF_PID")
until curl -sf "http://127.0.0.1:$OFF_PORT/readyz" >/dev/null 2>&1; do sleep 0.1; done
curl -sf -d grant_type=client_credentials -d "client_id=$WARM_ID" -d "client_secret=$WARM_SECRET" \
  "http://127.0.0.1:$OFF_PORT/oauth/token" >/dev/null
HS=()
TS=()
OS=()
# The metrics-on and metrics-off servers swap places every round: whichever runs second in
# a round met a machine that had just been loaded, which biased the comparison when one
# always went first.
for round in $(seq "$ROUNDS"); do
  HS+=("$(measure "$CONNECTIONS" "$SECONDS_EACH" "$BASE/healthz")")
  if [ $((round % 2)) -eq 1 ]; then
    TS+=("$(measure "$CONNECTIONS" "$SECONDS_EACH" "$BASE/oauth/token" "$work/warm.lua")")
    OS+=("$(measure "$CONNECTIONS" "$SECONDS_EACH" "http://127.0.0.1:$OFF_PORT/oauth/token" "$work/warm.lua")")
  else
    OS+=("$(measure "$CONNECTIONS" "$SECONDS_EACH" "http://127.0.0.1:$OFF_PORT/oauth/token" "$work/warm.lua")")
    TS+=("$(measure "$CONNECTIONS" "$SECONDS_EACH" "$BASE/oauth/token" "$work/warm.lua")")
  fi
done
kill -TERM "$OFF_PID"; wait "$OFF_PID" || true
# Median rps and p99 of several "rps p99 errors" lines; errors summed.
median() { python3 -c '
import statistics, sys
runs = [line.split()[:3] for line in sys.argv[1:]]
print(f"{statistics.median(float(r[0]) for r in runs):.0f} {statistics.median(float(r[1]) for r in runs):.2f} {sum(int(r[2]) for r in runs)}")' "$@"; }
HEALTHZ=$(median "${HS[@]}")
TOKEN[ES256]=$(median "${TS[@]}")
METRICS_OFF=$(median "${OS[@]}")
METRICS_PAIRS=$(for i in "${!TS[@]}"; do echo -n "$(echo "${TS[$i]}" | cut -d' ' -f1),$(echo "${OS[$i]}" | cut -d' ' -f1) "; done)
ROUND_PAIRS=$(for i in "${!HS[@]}"; do echo -n "$(echo "${HS[$i]}" | cut -d' ' -f1),$(echo "${TS[$i]}" | cut -d' ' -f1) "; done)

# Cold path: COLD clients never used, then their first requests (argon2 each) fired while
# warm requests are measured.
echo "bench.sh: creating $COLD cold clients" >&2
seq "$COLD" | xargs -P 4 -I{} bash -c "$(declare -f create_client json); BASE=$BASE ADMIN_TOKEN=$ADMIN_TOKEN ORG=$ORG create_client" >"$work/cold.txt"
COLD_SECONDS=$((SECONDS_EACH * 2))
measure 16 "$COLD_SECONDS" "$BASE/oauth/token" "$work/warm.lua" >"$work/during.txt" &
WARM_BG=$!
sleep 1
cold_started=$(date +%s.%N)
# Only well-formed "id secret" lines: one malformed line would shift every later pair (ids
# that are no client's then share one failure window and soon get 429), which once made a
# run report 401s and 429s that were the script's, not the server's.
awk 'NF == 2 && $1 ~ /^m2morg_[0-9]+$/ {print $1" "$2}' "$work/cold.txt" >"$work/cold-pairs.txt"
COLD_MALFORMED=$(( $(wc -l <"$work/cold.txt") - $(wc -l <"$work/cold-pairs.txt") ))
xargs -P 32 -n 2 sh -c \
  "curl -s -o /dev/null -w '%{http_code}\n' -d grant_type=client_credentials -d client_id=\$0 -d client_secret=\$1 $BASE/oauth/token" \
  <"$work/cold-pairs.txt" >"$work/cold-status.txt"
cold_seconds=$(python3 -c "import time; print(f'{time.time() - $cold_started:.1f}')")
wait "$WARM_BG"
DURING=$(cat "$work/during.txt")
COLD_OK=$(grep -c '^200$' "$work/cold-status.txt" || true)
COLD_BUSY=$(grep -c '^503$' "$work/cold-status.txt" || true)
COLD_CREATED=$(wc -l <"$work/cold-pairs.txt")
# Any other status (000 is a curl error), as "count x status" pairs.
COLD_OTHER=$({ grep -v -e '^200$' -e '^503$' "$work/cold-status.txt" || true; } | sort | uniq -c | awk '{printf "%s%s x %s", sep, $1, $2; sep=", "}')
READY=$(curl -s "$BASE/readyz")
ARGON2_BOUND=$(echo "$READY" | json '["argon2"]["max_concurrent"]')
ARGON2_PEAK=$(echo "$READY" | json '["argon2"]["peak_concurrent"]')

echo "bench.sh: admin throughput" >&2
cat >"$work/create.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"name":"load","scopes":["a"]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $ADMIN_TOKEN"
LUA
cat >"$work/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $ADMIN_TOKEN"
LUA
ADMIN_CREATE=$(measure 4 5 "$BASE/api/v1/organizations/org_load/clients" "$work/create.lua")
ADMIN_GET=$(measure "$CONNECTIONS" 5 "$BASE/api/v1/organizations/$ORG/clients/$WARM_ID" "$work/get.lua")
# The same read over gRPC (h2c, 4 connections), as Scalekit's SDKs make it.
ADMIN_GRPC=$(target/release/examples/bench_grpc "$BASE" "$ADMIN_TOKEN" "$ORG" "$WARM_ID" "$CONNECTIONS" 5)

# Introspection of a valid token (RFC 7662) by a client holding the introspection scope.
echo "bench.sh: introspection" >&2
read -r INTRO_ID INTRO_SECRET < <(curl -s -X POST "$BASE/api/v1/organizations/$ORG/clients" \
  -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"resource server","scopes":["tokenmint:introspect"]}' |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["client"]["client_id"], d["plain_secret"])')
INTRO_TOKEN=$(curl -s -d grant_type=client_credentials -d "client_id=$WARM_ID" -d "client_secret=$WARM_SECRET" "$BASE/oauth/token" | json '["access_token"]')
cat >"$work/introspect.lua" <<LUA
wrk.method = "POST"
wrk.body = "token=$INTRO_TOKEN&client_id=$INTRO_ID&client_secret=$INTRO_SECRET"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
curl -sf -o /dev/null -X POST --data-binary @<(printf 'token=%s&client_id=%s&client_secret=%s' "$INTRO_TOKEN" "$INTRO_ID" "$INTRO_SECRET") \
  -H 'Content-Type: application/x-www-form-urlencoded' "$BASE/oauth/introspect"
INTRO_TOKEN_RATE=$(measure "$CONNECTIONS" "$SECONDS_EACH" "$BASE/oauth/token" "$work/warm.lua")
INTROSPECT=$(measure "$CONNECTIONS" "$SECONDS_EACH" "$BASE/oauth/introspect" "$work/introspect.lua")

# private_key_jwt: warm token requests authenticated by ES256 assertions (one signature
# verification and one jti write each), next to secrets, back to back. Every assertion is
# good once, so wrk sends each of a pre-made file once (each thread its half).
echo "bench.sh: private_key_jwt assertions" >&2
read -r PKJ_ID _ < <(create_client)
ASSERTIONS=$((SECONDS_EACH * 20000))
PKJ_JWK=$(target/release/examples/bench_assertions "$PKJ_ID" "$BASE/oauth/token" "$ASSERTIONS" "$work/assertions.txt")
curl -sf -o /dev/null -X POST "$BASE/v1/clients/$PKJ_ID/credentials" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d "{\"displayName\":\"bench key\",\"kind\":\"private_key_jwt\",\"publicKey\":$PKJ_JWK}"
cat >"$work/assertion.lua" <<LUA
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  lines, n, i = {}, 0, 0
  for line in io.lines("$work/assertions.txt") do
    if i % 2 == tid then lines[#lines + 1] = line end
    i = i + 1
  end
end
function request()
  n = n + 1
  return wrk.format("POST", "/oauth/token", {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" .. (lines[n] or lines[1]))
end
LUA
PKJ_TOKEN_RATE=$(measure "$CONNECTIONS" "$SECONDS_EACH" "$BASE/oauth/token" "$work/warm.lua")
PKJ=$(measure "$CONNECTIONS" "$SECONDS_EACH" "$BASE/oauth/token" "$work/assertion.lua")

# Token latency with few and with many clients stored, measured back to back.
TOKEN_UNSEEDED=$(measure "$CONNECTIONS" "$SECONDS_EACH" "$BASE/oauth/token" "$work/warm.lua")
echo "bench.sh: seeding $SEED clients" >&2
seed_started=$(date +%s)
target/release/examples/seed "$TOKENMINT_REDIS__URL" bench "$SEED" >/dev/null
SEED_SECONDS=$(( $(date +%s) - seed_started ))
STORED=$(redis-cli -p "$REDIS_PORT" zcard bench:clients)
TOKEN_SEEDED=$(measure "$CONNECTIONS" "$SECONDS_EACH" "$BASE/oauth/token" "$work/warm.lua")
stop_server

for alg in EdDSA RS256; do
  echo "bench.sh: $alg server: warm tokens" >&2
  start_server "$alg"
  curl -sf -d grant_type=client_credentials -d "client_id=$WARM_ID" -d "client_secret=$WARM_SECRET" "$BASE/oauth/token" >/dev/null
  sign_rate "$alg"
  TOKEN[$alg]=$(measure "$CONNECTIONS" "$SECONDS_EACH" "$BASE/oauth/token" "$work/warm.lua")
  stop_server
done

python3 - "$HEALTHZ" "${TOKEN[ES256]}" "${TOKEN[EdDSA]}" "${TOKEN[RS256]}" "$TOKEN_SEEDED" "$DURING" "$TOKEN_UNSEEDED" \
  "${SIGN[ES256]}" "${SIGN[EdDSA]}" "${SIGN[RS256]}" "$CORES" "$COLD" "$COLD_OK" "$COLD_BUSY" "$cold_seconds" \
  "$ARGON2_BOUND" "$ARGON2_PEAK" "$ADMIN_CREATE" "$ADMIN_GET" "$PEAK_RSS_KB" "$STORED" "$SEED_SECONDS" \
  "$SECONDS_EACH" "$CONNECTIONS" "$ROUND_PAIRS" "$COLD_CREATED" "${COLD_OTHER:-none}" "$ADMIN_GRPC" \
  "$METRICS_OFF" "$METRICS_PAIRS" "$INTROSPECT" "$INTRO_TOKEN_RATE" "$COLD_MALFORMED" "$PKJ" "$PKJ_TOKEN_RATE" "$ASSERTIONS" <<'PY'
import os, platform, subprocess, sys
a = sys.argv[1:]
def run(v): return v.split()[0:3]
healthz, es, ed, rs, seeded, during, unseeded = (run(x) for x in a[0:7])
a = a[:6] + a[7:]
sign = {"ES256": float(a[6]), "EdDSA": float(a[7]), "RS256": float(a[8])}
cores = int(a[9]); cold, cold_ok, cold_busy, cold_s = int(a[10]), int(a[11]), int(a[12]), a[13]
bound, peak = int(a[14]), int(a[15]); create, get = run(a[16]), run(a[17])
rss_mb = int(a[18]) / 1024; stored, seed_s = int(a[19]), a[20]; secs, conns = a[21], a[22]
rounds = [tuple(float(x) for x in pair.split(",")) for pair in a[23].split()]
ratios = sorted(t / h for h, t in rounds)
ratio = ratios[len(ratios) // 2] if len(ratios) % 2 else sum(ratios[len(ratios) // 2 - 1:len(ratios) // 2 + 1]) / 2
rounds_line = "Rounds (/healthz req/s, ES256 token req/s, ratio): " + "; ".join(f"{h:.0f}, {t:.0f}, {t / h:.1%}" for h, t in rounds) + f". Median ratio {ratio:.1%}."
f = lambda x: float(x)
def cmd(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return "?"
cpu = cmd("lscpu | sed -n 's/^Model name:[[:space:]]*//p'") or platform.processor()
mem = cmd("free -g | awk '/Mem:/ {print $2\" GiB\"}'")
off = run(a[27])
metric_rounds = [tuple(float(x) for x in pair.split(",")) for pair in a[28].split()]
costs = sorted(1 - on / off_ for on, off_ in metric_rounds)
metrics_cost = costs[len(costs) // 2] if len(costs) % 2 else sum(costs[len(costs) // 2 - 1:len(costs) // 2 + 1]) / 2
introspect, intro_token = run(a[29]), run(a[30])
intro_ratio = f(introspect[0]) / f(intro_token[0])
metrics_line = "Metrics cost (ES256 warm req/s with metrics on, off, cost): " + "; ".join(f"{o:.0f}, {f_:.0f}, {1 - o / f_:.1%}" for o, f_ in metric_rounds) + f". Median cost {metrics_cost:.1%}."
checks = [
    ("ES256 warm >= 25% of /healthz req/s (median of the rounds' ratios)", ratio >= 0.25, f"{ratio:.1%}"),
    ("ES256 warm p99 < 10 ms", f(es[1]) < 10, f"{es[1]} ms"),
    ("RS256 warm >= 75% of cores x signs/s", f(rs[0]) >= 0.75 * cores * sign["RS256"], f"{f(rs[0])/(cores*sign['RS256']):.0%}"),
    ("warm p99 < 50 ms during the cold storm", f(during[1]) < 50, f"{during[1]} ms"),
    ("argon2 concurrency never above its bound", peak <= bound, f"peak {peak} / bound {bound}"),
    ("server RSS < 150 MB", rss_mb < 150, f"{rss_mb:.0f} MB"),
    ("metrics cost the warm ES256 token rate < 3% (median of the rounds)", metrics_cost < 0.03, f"{metrics_cost:.1%}"),
    ("introspection of a valid token >= 50% of the warm ES256 token rate (back to back)", intro_ratio >= 0.5, f"{intro_ratio:.0%} ({introspect[0]} vs {intro_token[0]} req/s)"),
    (f"token latency unchanged with {stored} clients stored", f(seeded[1]) <= max(1.5 * f(unseeded[1]), f(unseeded[1]) + 1.0), f"p99 {unseeded[1]} -> {seeded[1]} ms, {unseeded[0]} -> {seeded[0]} req/s (back to back)"),
]
rows = [
    (f"/healthz (framework ceiling; median of {len(rounds)} rounds)", healthz[0], healthz[1], healthz[2]),
    (f"token, ES256, warm (median of {len(rounds)} rounds, alternating with /healthz)", es[0], es[1], es[2]),
    (f"token, ES256, warm, metrics off (median of {len(rounds)} rounds, same rounds)", off[0], off[1], off[2]),
    ("token, EdDSA, warm", ed[0], ed[1], ed[2]),
    ("token, RS256, warm", rs[0], rs[1], rs[2]),
    ("token, ES256, warm, just before seeding", unseeded[0], unseeded[1], unseeded[2]),
    (f"token, ES256, warm, {stored} clients stored", seeded[0], seeded[1], seeded[2]),
    (f"token, ES256, warm, during {cold} cold requests (16 conns)", during[0], during[1], during[2]),
    ("introspection of a valid token, ES256 (RFC 7662)", introspect[0], introspect[1], introspect[2]),
    ("token, ES256, warm, just before introspection", intro_token[0], intro_token[1], intro_token[2]),
    (f"token, private_key_jwt: ES256 assertions, each used once (of {a[34]} made; non-2xx past them are replays)", *run(a[32])),
    ("token, ES256, warm secret, just before the assertions", *run(a[33])),
    ("admin create (argon2 per request, 4 conns, 5 s)", create[0], create[1], create[2]),
    ("admin get (64 conns, 5 s)", get[0], get[1], get[2]),
    ("admin get over gRPC, GetOrganizationClient (64 streams on 4 h2c connections, 5 s; errors)", *run(a[26])),
]
table = ["| measurement | req/s | p99 ms | non-2xx |", "|---|---:|---:|---:|"]
table += [f"| {n} | {r} | {p} | {e} |" for n, r, p, e in rows]
signs = ["| algorithm | signs/s, one core | ceiling (x{} cores) | warm token req/s | of ceiling |".format(cores), "|---|---:|---:|---:|---:|"]
for alg, run_ in (("ES256", es), ("EdDSA", ed), ("RS256", rs)):
    ceiling = cores * sign[alg]
    signs.append(f"| {alg} | {sign[alg]:.0f} | {ceiling:.0f} | {run_[0]} | {f(run_[0])/ceiling:.0%} |")
verdicts = ["| target | result | |", "|---|---|---|"] + [f"| {n} | {v} | {'PASS' if ok else 'MISS'} |" for n, ok, v in checks]
cold_created, cold_other = int(a[24]), a[25]
cold_line = f"Cold path: {cold_created} of {cold} clients created ({a[31]} malformed lines of the creation output skipped), then their first token requests (argon2 each, 32 at a time) finished in {cold_s} s: {cold_ok} x 200, {cold_busy} x 503 (queue full, Retry-After), other statuses: {cold_other} (000 is a curl error); argon2 ran at most {peak} at once (bound {bound})."
seed_line = f"Seeding: {stored} clients stored ({seed_s} s to write the seeded ones directly)."
print("\n".join(table)); print(); print(rounds_line); print(); print(metrics_line); print(); print("\n".join(signs)); print(); print(cold_line); print(seed_line); print(); print("\n".join(verdicts))
doc = f"""# tokenmint benchmarks

Written by `scripts/bench.sh` (re-run it to refresh). Load generator and server share the
machine, so every figure is relative to the same run's `/healthz`.

## Machine

- CPU: {cpu}, {cores} cores; memory {mem}
- {cmd('rustc --version')}; {cmd('redis-server --version | cut -d" " -f1-3')}; {cmd('wrk --version 2>&1 | head -1 | cut -d" " -f1-2')}
- Kernel {platform.release()}

## Commands

- `wrk -t2 -c{conns} -d{secs}s --latency` against each endpoint; token requests are
  `client_secret_post` bodies for one warm client (its secret verified once beforehand).
- Signing rate: `target/release/examples/bench_sign 2 <alg>` (parsed key pair, claims
  encoded once as the endpoint keeps them, one core),
  run right before that algorithm's token measurements.
- Cold path: {cold} clients created through the admin API, then their first token requests
  fired 32 at a time with curl while wrk measures warm requests (16 connections).
- Seeding: `target/release/examples/seed` writes clients directly into Redis.
- Peak RSS: `VmHWM` of each server process, the largest reported.
- Metrics cost: a second ES256 server on the same keys and Redis with `metrics.enabled =
  false`, measured in the same rounds as the first.
- private_key_jwt: `target/release/examples/bench_assertions` makes an ES256 key and
  single-use assertions (a fresh `jti` each); wrk sends each once, each thread its half.

## Results

{chr(10).join(table)}

{rounds_line}

{metrics_line}

{chr(10).join(signs)}

{cold_line}

{seed_line}

Peak server RSS: {rss_mb:.0f} MB.

## Targets

{chr(10).join(verdicts)}
"""
notes = open("scripts/bench-notes.md").read()
open("BENCHMARKS.md", "w").write(doc + "\n" + notes)
print("\nwrote BENCHMARKS.md")
PY
