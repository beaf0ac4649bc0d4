// Scalekit's official Node SDK (@scalekit-sdk/node), unmodified, against tokenmint (run by
// scripts/sdk-compat.sh): every m2m call, its token calls and the error paths. Its transport
// is @connectrpc/connect-node's createGrpcTransport (gRPC over HTTP/2, TLS).
import sdk from '@scalekit-sdk/node';

const { ScalekitClient, ScalekitBadRequestException, ScalekitForbiddenException,
  ScalekitNotFoundException, ScalekitServerException } = sdk;
const envUrl = process.env.SCALEKIT_ENVIRONMENT_URL;
const orgId = 'org_59615193906282635';
let checks = 0;

function check(condition, what) {
  if (!condition) {
    console.error(`node SDK: FAILED: ${what}`);
    process.exit(1);
  }
  checks += 1;
}

async function expect(exception, call, what) {
  try {
    await call();
  } catch (e) {
    if (e instanceof exception) {
      checks += 1;
      return e;
    }
    console.error(`node SDK: FAILED: ${what}: got ${e?.constructor?.name}: ${e?.message}`);
    process.exit(1);
  }
  console.error(`node SDK: FAILED: ${what}: no error`);
  process.exit(1);
}

const scalekit = new ScalekitClient(envUrl, process.env.SCALEKIT_CLIENT_ID, process.env.SCALEKIT_CLIENT_SECRET);

// The seed's client, through the Node SDK's options.
const created = await scalekit.m2m.createOrganizationClient(orgId, {
  name: 'GitHub Actions Deployment Service',
  description: 'Service account for GitHub Actions to deploy applications to production',
  customClaims: { github_repository: 'acmecorp/inventory-service', environment: 'production_us' },
  scopes: ['deploy:applications', 'read:deployments'],
  audience: ['deployment-api.acmecorp.com'],
});
const client = created.client;
check(client.name === 'GitHub Actions Deployment Service', 'create: name');
check(client.organizationId === orgId, 'create: organization id');
check(Number(client.expiry) === 3600, 'create: expiry 0 means the default');
check(client.secrets.length === 1 && created.plainSecret, 'create: one secret, shown once');

const token = await scalekit.generateClientToken(client.clientId, created.plainSecret);
check(await scalekit.validateAccessToken(token), 'validateAccessToken accepts a fresh token');
check(!(await scalekit.validateAccessToken(token.slice(0, -4) + 'AAAA')), 'validateAccessToken refuses a forged one');

const updated = (await scalekit.m2m.updateOrganizationClient(orgId, client.clientId, {
  description: 'Service account for GitHub Actions to deploy applications to production_eu',
  customClaims: { github_repository: 'acmecorp/inventory', environment: 'production_eu' },
})).client;
check(updated.description.endsWith('production_eu'), 'update: description');
check(updated.name === client.name, 'update: name kept');
check(updated.scopes.length === 2, 'update: scopes kept');

const got = (await scalekit.m2m.getOrganizationClient(orgId, client.clientId)).client;
check(got.description === updated.description, 'get');

const added = await scalekit.m2m.addOrganizationClientSecret(orgId, client.clientId);
check(added.plainSecret && added.secret.id, 'add secret');
await scalekit.m2m.removeOrganizationClientSecret(orgId, client.clientId, client.secrets[0].id);
check(await scalekit.validateAccessToken(await scalekit.generateClientToken(client.clientId, added.plainSecret)),
  'the added secret mints tokens');

for (let n = 0; n < 3; n += 1) {
  await scalekit.m2m.createOrganizationClient(orgId, { name: `node paging ${n}` });
}
const seen = [];
let pageToken;
for (;;) {
  const page = await scalekit.m2m.listOrganizationClients(orgId, { pageSize: 2, pageToken });
  check(page.clients.length <= 2 && page.totalSize >= 4, 'list: page size and total');
  seen.push(...page.clients.map((c) => c.clientId));
  if (!page.nextPageToken) break;
  pageToken = page.nextPageToken;
}
check(seen.includes(client.clientId) && new Set(seen).size === seen.length, 'list: every client once');

await expect(ScalekitNotFoundException,
  () => scalekit.m2m.getOrganizationClient(orgId, 'm2morg_000000000000000001'), 'unknown client');
await expect(ScalekitBadRequestException,
  () => scalekit.m2m.createOrganizationClient(orgId, { name: 'bad', scopes: ['two words'] }), 'bad field');
const admin = await scalekit.m2m.createOrganizationClient('org_b', { name: 'org b admin', scopes: ['tokenmint:admin'] });
const orgB = new ScalekitClient(envUrl, admin.client.clientId, admin.plainSecret);
await expect(ScalekitForbiddenException,
  () => orgB.m2m.getOrganizationClient(orgId, client.clientId), "another organization's client");

await scalekit.m2m.deleteOrganizationClient(orgId, client.clientId);
await expect(ScalekitServerException,
  () => scalekit.m2m.getOrganizationClient(orgId, client.clientId), 'deleted');

console.log(`node SDK: all ${checks} checks passed`);
