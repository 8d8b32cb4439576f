// panva/oidc-provider configured to REQUIRE signed or certificate client authentication at its
// token endpoint, and to exchange tokens (RFC 8693), for synaptic's endpoint-security tests.
//
// Env:
//   PORT        plain HTTP listener (issuer http://127.0.0.1:PORT)
//   TLS_PORT    HTTPS listener asking for a client certificate (mutual TLS), same provider
//   TLS_CERT, TLS_KEY, TLS_CA   PEM files: the server's certificate and key, and the CA whose
//               client certificates are "verified" (tls_client_auth)
//   KEYS_DIR    where the clients' private keys are written (generated at start):
//               RS256.pem PS256.pem ES256.pem EdDSA.pem (registered) and wrong-RS256.pem (not)
//   TOKEN_TTL   access-token lifetime in seconds (default 3600)
//
// Clients (every one may use client_credentials and token exchange):
//   pkjwt-RS256 / pkjwt-PS256 / pkjwt-ES256 / pkjwt-EdDSA   private_key_jwt with that alg, kid "kid-<alg>"
//   secretjwt     client_secret_jwt (HS256), secret in SECRET_JWT below
//   mtls-client   tls_client_auth, subject DN "CN=gw-mtls-client"
//   caller        client_secret_basic caller/caller-secret (gets the tokens that are exchanged)
//   rs-client     client_secret_basic rs-client/rs-secret (introspection)
// Extra route: GET /test/stats -> {"exchanges": N, "client_credentials": {client_id: N}}
//
// Token exchange is registered through oidc-provider's registerGrantType(): the subject token
// must be an active access token this provider issued; the new token is a client-credentials
// token of the exchanging client whose introspection shows the subject's client, the actor and
// the requested audience and resource.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { Provider, errors } from 'oidc-provider';

const PORT = Number(process.env.PORT);
const ISSUER = `http://127.0.0.1:${PORT}`;
const TTL = Number(process.env.TOKEN_TTL || 3600);
const KEYS_DIR = process.env.KEYS_DIR;
const SECRET_JWT = 'a-client-secret-for-hs256-that-is-long-enough';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

function keyPair(alg) {
  switch (alg) {
    case 'RS256': case 'PS256':
      return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'ES256':
      return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    default:
      return crypto.generateKeyPairSync('ed25519');
  }
}

fs.mkdirSync(KEYS_DIR, { recursive: true });
const grants = ['client_credentials', TOKEN_EXCHANGE];
const common = { grant_types: grants, response_types: [], redirect_uris: [], scope: 'view book' };
const clients = [];
for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) {
  const { publicKey, privateKey } = keyPair(alg);
  fs.writeFileSync(path.join(KEYS_DIR, `${alg}.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  clients.push({
    ...common,
    client_id: `pkjwt-${alg}`,
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: alg,
    jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: `kid-${alg}`, alg, use: 'sig' }] },
  });
}
fs.writeFileSync(
  path.join(KEYS_DIR, 'wrong-RS256.pem'),
  keyPair('RS256').privateKey.export({ type: 'pkcs8', format: 'pem' }),
);
clients.push(
  {
    ...common,
    client_id: 'secretjwt',
    client_secret: SECRET_JWT,
    token_endpoint_auth_method: 'client_secret_jwt',
    token_endpoint_auth_signing_alg: 'HS256',
  },
  {
    ...common,
    client_id: 'mtls-client',
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: 'CN=gw-mtls-client',
  },
  { ...common, client_id: 'caller', client_secret: 'caller-secret', token_endpoint_auth_method: 'client_secret_basic' },
  {
    client_id: 'rs-client', client_secret: 'rs-secret', grant_types: [], response_types: [],
    redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic',
  },
);

const peerCert = (ctx) => {
  const socket = ctx.req.socket;
  const c = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(false) : null;
  return c && c.raw ? c : null;
};

// claims an exchanged token carries (introspection shows them), by token
const exchangeClaims = new WeakMap();

const provider = new Provider(ISSUER, {
  clients,
  extraTokenClaims: async (ctx, token) => exchangeClaims.get(token),
  scopes: ['view', 'book'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_jwt', 'private_key_jwt', 'tls_client_auth'],
  ttl: { ClientCredentials: TTL },
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
    mTLS: {
      enabled: true,
      tlsClientAuth: true,
      getCertificate(ctx) {
        const c = peerCert(ctx);
        return c ? new crypto.X509Certificate(c.raw) : undefined;
      },
      certificateAuthorized(ctx) {
        return ctx.req.socket.authorized === true;
      },
      certificateSubjectMatches(ctx, property, expected) {
        const c = peerCert(ctx);
        if (!c || property !== 'tls_client_auth_subject_dn') return false;
        return `CN=${c.subject.CN}` === expected;
      },
    },
  },
});
provider.proxy = false;

const stats = { exchanges: 0, client_credentials: {} };
provider.on('grant.success', (ctx) => {
  const { client, params } = ctx.oidc;
  if (params.grant_type === 'client_credentials') {
    stats.client_credentials[client.clientId] = (stats.client_credentials[client.clientId] || 0) + 1;
  }
});

provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
  const { client, params } = ctx.oidc;
  if (!params.subject_token || params.subject_token_type !== ACCESS_TOKEN) {
    throw new errors.InvalidRequest('subject_token of type access_token required');
  }
  const subject = (await provider.ClientCredentials.find(params.subject_token))
    || (await provider.AccessToken.find(params.subject_token));
  if (!subject || subject.isExpired) {
    throw new errors.InvalidGrant('subject_token is not active');
  }
  stats.exchanges += 1;
  const at = new provider.ClientCredentials({ client, scope: params.scope || undefined });
  exchangeClaims.set(at, {
    subject_client: subject.clientId,
    act: { sub: client.clientId },
    exchanged_aud: params.audience,
    exchanged_resource: params.resource,
  });
  const value = await at.save();
  ctx.body = {
    access_token: value,
    issued_token_type: ACCESS_TOKEN,
    token_type: 'Bearer',
    expires_in: at.expiration,
    scope: at.scope,
  };
}, ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type',
  'requested_token_type', 'audience', 'resource', 'scope']);

provider.use(async (ctx, next) => {
  if (ctx.path === '/test/stats') {
    ctx.body = stats;
    return;
  }
  await next();
});

const callback = provider.callback();
provider.listen(PORT, '127.0.0.1', () => console.log(`client-auth peer on ${ISSUER}`));
if (process.env.TLS_PORT) {
  https.createServer({
    key: fs.readFileSync(process.env.TLS_KEY),
    cert: fs.readFileSync(process.env.TLS_CERT),
    ca: [fs.readFileSync(process.env.TLS_CA)],
    requestCert: true,
    rejectUnauthorized: false,
  }, callback).listen(Number(process.env.TLS_PORT), '127.0.0.1', () => console.log(`mTLS on ${process.env.TLS_PORT}`));
}
