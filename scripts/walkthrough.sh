#!/usr/bin/env bash
# The README's walk-through, run as written (CI runs it, so the README cannot rot): the
# block between the two "walk-through" marker lines below must appear, line for line, in
# README.md. Needs python3 and curl; installs PyJWT into a throwaway venv to verify the
# token's signature; all files, which hold plain secrets, go to a throwaway folder.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --bin tokenmint >&2
export PATH="$PWD/target/debug:$PATH"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=8080
while ! port_free "$PORT"; do PORT=$((10000 + RANDOM % 12000)); done
trap 'kill ${SERVER:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "${WORK:-/nonexistent}"' EXIT

# --- walk-through begin
# Files holding secrets go to a throwaway folder; `field` reads one field of a JSON file.
PORT=${PORT:-8080}
WORK=$(mktemp -d) && cd "$WORK"
field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); [v := v[k] for k in sys.argv[2].split(".")]; print(v)' "$@"; }

# 0. A dev server (in-memory store, a generated RS256 key); its first stdout line is an admin.
tokenmint serve --dev --bind 127.0.0.1:$PORT > admin.json 2> server.log &
SERVER=$!
BASE=http://127.0.0.1:$PORT
until curl -sf $BASE/healthz > /dev/null; do
  kill -0 $SERVER || { cat server.log; exit 1; }
  sleep 0.2
done
ADMIN_ID=$(field admin.json client_id); ADMIN_SECRET=$(field admin.json client_secret)

# 1. An admin access token (client_secret_basic).
curl -sf -u "$ADMIN_ID:$ADMIN_SECRET" -d grant_type=client_credentials $BASE/oauth/token > admin-token.json
ADMIN_TOKEN=$(field admin-token.json access_token)

# 2. Create an organization client (the Scalekit seed body); the response holds its first
#    secret, shown this once.
curl -sf -X POST $BASE/api/v1/organizations/org_59615193906282635/clients \
  -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d '{"name": "GitHub Actions Deployment Service",
       "description": "Service account for GitHub Actions to deploy applications to production",
       "scopes": ["deploy:applications", "read:deployments"],
       "audience": ["https://api.example.com/api/analytics", "https://deployment-api.acmecorp.com"],
       "custom_claims": [{"key": "environment", "value": "production"},
                         {"key": "service", "value": "deployment"}],
       "expiry": 3600}' > client.json
CLIENT_ID=$(field client.json client.client_id); CLIENT_SECRET=$(field client.json plain_secret)

# 3. Update it (PATCH: present keys replace, absent keys stay, null resets).
curl -sf -X PATCH $BASE/api/v1/organizations/org_59615193906282635/clients/$CLIENT_ID \
  -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d '{"description": "Service account for GitHub Actions to deploy applications to production_eu",
       "custom_claims": [{"key": "github_repository", "value": "acmecorp/inventory"},
                         {"key": "environment", "value": "production_eu"}]}' > updated.json

# 4. A token, by either client authentication method (the second narrows the scope).
curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials $BASE/oauth/token > /dev/null
curl -sf -d grant_type=client_credentials -d client_id=$CLIENT_ID -d client_secret=$CLIENT_SECRET \
  -d scope=read:deployments $BASE/oauth/token > token.json
TOKEN=$(field token.json access_token)

# 5. Verify it against the published JWKS with any JOSE library; here PyJWT, in a throwaway venv.
python3 -m venv venv && venv/bin/pip install -q 'pyjwt[crypto]'
venv/bin/python -c 'import jwt,sys; k=jwt.PyJWKClient(sys.argv[1]).get_signing_key_from_jwt(sys.argv[2]);
print(jwt.decode(sys.argv[2], k.key, algorithms=["RS256","ES256","EdDSA"], options={"verify_aud": False}))' \
  $BASE/.well-known/jwks.json "$TOKEN"

# 6. The Confidence-style face: a client without organization, a credential for two
#    environments, the seed's masked PATCH, a token for one environment.
curl -sf -X POST $BASE/v1/clients -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' \
  -d '{"displayName": "flags backend", "scopes": ["flags:resolve"]}' > v1-client.json
CLIENT=$(field v1-client.json name | cut -d/ -f2)
curl -sf -X POST $BASE/v1/clients/$CLIENT/credentials -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' \
  -d '{"displayName": "backend", "environments": ["production", "staging"]}' > cred.json
CRED=$(field cred.json name | cut -d/ -f4); CRED_SECRET=$(field cred.json clientSecret.secret)
curl -sf -X PATCH "$BASE/v1/clients/$CLIENT/credentials/$CRED?updateMask=display_name,environments,labels,sdkType" \
  -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d '{"displayName": "backend prod", "environments": ["production"],
       "labels": {"tier": "gold"}, "sdkType": "BACKEND"}' > /dev/null
curl -sf -u "$CLIENT:$CRED_SECRET" -d grant_type=client_credentials -d environment=production \
  $BASE/oauth/token > env-token.json

# 7. Stop the server (Ctrl-C or SIGTERM finish in-flight requests first).
kill $SERVER; wait $SERVER
# --- walk-through end
cd - > /dev/null

# The walk-through's facts, checked.
python3 - "$WORK" <<'PY'
import base64, json, sys
work = sys.argv[1]
load = lambda name: json.load(open(f"{work}/{name}"))
updated = load("updated.json")["client"]
assert updated["description"].endswith("production_eu"), updated
claims = json.loads(base64.urlsafe_b64decode(load("token.json")["access_token"].split(".")[1] + "=="))
assert claims["scope"] == "read:deployments", claims
env = json.loads(base64.urlsafe_b64decode(load("env-token.json")["access_token"].split(".")[1] + "=="))
assert env["environments"] == ["production"], env
PY
# The README shows exactly these commands.
python3 - <<'PY'
import re, sys
script = open("scripts/walkthrough.sh").read()
block = script.split("# --- walk-through begin\n", 1)[1].split("# --- walk-through end", 1)[0]
if block not in open("README.md").read():
    sys.exit("walkthrough.sh: README.md does not show the walk-through block of scripts/walkthrough.sh verbatim")
PY
echo "walkthrough.sh: the README's walk-through ran as written" >&2
