"""Scalekit's official Python SDK, unmodified, against tokenmint (run by scripts/sdk-compat.sh).

Every m2m_client call: the seeds' Python examples literally (create, update), get, list with
paging, add and remove a secret, delete; the SDK's own generate_client_token and
validate_access_token; and the error paths (unknown client, another organization's client,
a bad field, an expired admin token, a revoked admin).
"""
import os
import sys
import time

from scalekit import ScalekitClient
from scalekit.common.exceptions import (
    ScalekitBadRequestException,
    ScalekitForbiddenException,
    ScalekitNotFoundException,
    ScalekitServerException,
    ScalekitUnauthorizedException,
)
from scalekit.v1.clients.clients_pb2 import OrganizationClient

ENV_URL = os.environ["SCALEKIT_ENVIRONMENT_URL"]
checks = 0


def check(condition, what):
    global checks
    if not condition:
        sys.exit(f"python SDK: FAILED: {what}")
    checks += 1


def expect(exception, call, what):
    try:
        call()
    except exception as e:
        check(True, what)
        return e
    except Exception as e:  # noqa: BLE001 - report what else came
        sys.exit(f"python SDK: FAILED: {what}: got {type(e).__name__}: {e}")
    sys.exit(f"python SDK: FAILED: {what}: no error")


scalekit_client = ScalekitClient(
    ENV_URL, os.environ["SCALEKIT_CLIENT_ID"], os.environ["SCALEKIT_CLIENT_SECRET"]
)
sc = scalekit_client
org_id = "org_59615193906282635"

# --- The create seed, literally.
m2m_client = OrganizationClient(
    name="GitHub Actions Deployment Service",
    description="Service account for GitHub Actions to deploy applications to production",
    custom_claims=[
        {"key": "github_repository", "value": "acmecorp/inventory-service"},
        {"key": "environment", "value": "production_us"}
    ],
    scopes=["deploy:applications", "read:deployments"],
    audience=["deployment-api.acmecorp.com"],
    expiry=3600
)

response = scalekit_client.m2m_client.create_organization_client(
    organization_id=org_id,
    m2m_client=m2m_client
)
created = response[0] if isinstance(response, tuple) else response
client = created.client
check(client.name == "GitHub Actions Deployment Service", "create: name")
check(client.organization_id == org_id, "create: organization_id")
check(list(client.scopes) == ["deploy:applications", "read:deployments"], "create: scopes")
check(client.expiry == 3600, "create: expiry")
check(len(client.secrets) == 1 and created.plain_secret, "create: one secret, shown once")
check(not client.secrets[0].HasField("plain_secret"), "create: no plain secret in the client")
check(client.create_time.seconds > 0, "create: create_time is a Timestamp")

# --- The SDK's own token calls, with the client it created.
token = sc.generate_client_token(client.client_id, created.plain_secret)
check(sc.validate_access_token(token), "validate_access_token accepts a fresh token")
claims = sc.validate_access_token_and_get_claims(token)
check(claims["client_id"] == client.client_id, "token claims: client_id")
check(claims["github_repository"] == "acmecorp/inventory-service", "token claims: custom claim")
check(not sc.validate_access_token(token[:-4] + "AAAA"), "validate_access_token refuses a forged token")

# --- The update seed, literally.
client_id = client.client_id
os.environ["M2M_CLIENT_ID"] = client_id
update_m2m_client = OrganizationClient(
    description="Service account for GitHub Actions to deploy applications to production_eu",
    custom_claims=[
        {"key": "github_repository", "value": "acmecorp/inventory"},
        {"key": "environment", "value": "production_eu"}
    ]
)

response = sc.m2m_client.update_organization_client(
    organization_id=org_id,
    client_id=client_id,
    m2m_client=update_m2m_client
)
updated = (response[0] if isinstance(response, tuple) else response).client
check(updated.description.endswith("production_eu"), "update: description")
check(updated.custom_claims[0].value == "acmecorp/inventory", "update: custom claims")
check(updated.name == "GitHub Actions Deployment Service", "update: name kept (proto3 empty)")
check(list(updated.scopes) == ["deploy:applications", "read:deployments"], "update: scopes kept")
check(updated.expiry == 3600, "update: expiry kept")

# --- Get.
got = sc.m2m_client.get_organization_client(organization_id=org_id, client_id=client_id)
got = (got[0] if isinstance(got, tuple) else got).client
check(got.description == updated.description, "get: the update is there")

# --- Secrets: add one, remove the first.
added = sc.m2m_client.add_organization_client_secret(organization_id=org_id, client_id=client_id)
added = added[0] if isinstance(added, tuple) else added
check(added.plain_secret and added.secret.id, "add secret: plain secret and id")
sc.m2m_client.remove_organization_client_secret(
    organization_id=org_id, client_id=client_id, secret_id=client.secrets[0].id
)
check(sc.validate_access_token(sc.generate_client_token(client_id, added.plain_secret)),
      "the added secret mints tokens")
expect(ScalekitServerException,
       lambda: sc.generate_client_token(client_id, created.plain_secret),
       "the removed secret is refused")

# --- List with paging.
for n in range(3):
    sc.m2m_client.create_organization_client(
        organization_id=org_id, m2m_client=OrganizationClient(name=f"paging {n}"))
seen, token_ = [], None
while True:
    page = sc.m2m_client.list_organization_clients(
        organization_id=org_id, page_size=2, page_token=token_)
    page = page[0] if isinstance(page, tuple) else page
    check(len(page.clients) <= 2 and page.total_size >= 4, "list: page size and total")
    seen += [c.client_id for c in page.clients]
    if not page.next_page_token:
        break
    token_ = page.next_page_token
check(client_id in seen and len(seen) == len(set(seen)), "list: every client once")

# --- Error paths.
expect(ScalekitNotFoundException,
       lambda: sc.m2m_client.get_organization_client(
           organization_id=org_id, client_id="m2morg_000000000000000001"),
       "unknown client: NOT_FOUND")
bad = expect(ScalekitBadRequestException,
             lambda: sc.m2m_client.create_organization_client(
                 organization_id=org_id,
                 m2m_client=OrganizationClient(name="bad", scopes=["two words"])),
             "bad field: INVALID_ARGUMENT")
check("client.scopes[0]" in str(bad) or "scopes" in str(bad), "bad field: named in the error")

# An organization admin of another organization is confined to it.
admin = sc.m2m_client.create_organization_client(
    organization_id="org_a",
    m2m_client=OrganizationClient(name="org a admin", scopes=["tokenmint:admin"]))
admin = admin[0] if isinstance(admin, tuple) else admin
org_a = ScalekitClient(ENV_URL, admin.client.client_id, admin.plain_secret)
expect(ScalekitForbiddenException,
       lambda: org_a.m2m_client.get_organization_client(organization_id=org_id, client_id=client_id),
       "another organization's client: PERMISSION_DENIED")
expect(ScalekitNotFoundException,
       lambda: org_a.m2m_client.get_organization_client(organization_id="org_a", client_id=client_id),
       "another organization's client through one's own: NOT_FOUND")

# An expired admin token: the SDK hears UNAUTHENTICATED, fetches a new token, retries.
short = sc.m2m_client.create_organization_client(
    organization_id=org_id,
    m2m_client=OrganizationClient(name="short-lived admin", scopes=["tokenmint:admin"], expiry=2))
short = short[0] if isinstance(short, tuple) else short
short_sc = ScalekitClient(ENV_URL, short.client.client_id, short.plain_secret)
time.sleep(3)
again = short_sc.m2m_client.get_organization_client(organization_id=org_id, client_id=client_id)
check((again[0] if isinstance(again, tuple) else again).client.client_id == client_id,
      "expired admin token: the SDK re-authenticates and the call succeeds")
# Once its secret is gone, the expired token cannot be renewed: UNAUTHENTICATED reaches the caller.
sc.m2m_client.remove_organization_client_secret(
    organization_id=org_id, client_id=short.client.client_id, secret_id=short.client.secrets[0].id)
time.sleep(3)
expect(ScalekitUnauthorizedException,
       lambda: short_sc.m2m_client.get_organization_client(organization_id=org_id, client_id=client_id),
       "expired admin token that cannot be renewed: UNAUTHENTICATED")

# --- Delete.
sc.m2m_client.delete_organization_client(organization_id=org_id, client_id=client_id)
expect(ScalekitNotFoundException,
       lambda: sc.m2m_client.get_organization_client(organization_id=org_id, client_id=client_id),
       "deleted: NOT_FOUND")

print(f"python SDK: all {checks} checks passed")
