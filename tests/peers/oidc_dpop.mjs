// panva/oidc-provider issuing DPoP-bound access tokens (RFC 9449), and a protected resource
// that accepts them only with a valid proof, for synaptic's endpoint-security DPoP tests.
//
// Env:
//   PORT           plain HTTP listener (issuer http://127.0.0.1:PORT)
//   REQUIRE_NONCE  "1": the token endpoint (oidc-provider's own `requireNonce`) and the
//                  resource both demand a server-provided nonce (`use_dpop_nonce`)
//   TOKEN_TTL      access-token lifetime in seconds (default 3600)
//
// Clients: dpop-client / dpop-secret (client_secret_basic, client_credentials,
// dpop_bound_access_tokens: a token request without a proof is refused);
// plain-client / plain-secret (client_credentials, DPoP optional).
//
// The token endpoint, proof validation there, nonces and the binding (`jkt`) are
// oidc-provider's. The resource, GET|POST /api/whoami, is glue: it looks the token up in the
// provider, verifies the proof with jose (the provider's own JOSE library): `typ` dpop+jwt,
// the signature by the embedded key, that key's thumbprint = the token's `jkt`, `htm`, `htu`
// (this URL without query), `ath`, `iat` within 60 s, a `jti` not seen before, and with
// REQUIRE_NONCE the nonce it handed out last. Answers {"client_id", "jkt", "method"}.
//   401 WWW-Authenticate: DPoP error="use_dpop_nonce" + DPoP-Nonce   (nonce missing/stale)
//   401 WWW-Authenticate: DPoP error="invalid_token" | "invalid_dpop_proof"
// Extra routes: POST /test/rotate-nonce (the resource hands out a new nonce from now on),
// GET /test/stats -> {"tokens": N, "token_nonce_errors": N, "resource": {...}}.
import * as crypto from 'node:crypto';
import { Provider } from 'oidc-provider';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';

const PORT = Number(process.env.PORT);
const ISSUER = `http://127.0.0.1:${PORT}`;
const TTL = Number(process.env.TOKEN_TTL || 3600);
const REQUIRE_NONCE = process.env.REQUIRE_NONCE === '1';

const common = {
  grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
  scope: 'view book', token_endpoint_auth_method: 'client_secret_basic',
};
const provider = new Provider(ISSUER, {
  clients: [
    { ...common, client_id: 'dpop-client', client_secret: 'dpop-secret', dpop_bound_access_tokens: true },
    { ...common, client_id: 'plain-client', client_secret: 'plain-secret' },
  ],
  scopes: ['view', 'book'],
  ttl: { ClientCredentials: TTL },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    dPoP: {
      enabled: true,
      nonceSecret: crypto.randomBytes(32),
      requireNonce: () => REQUIRE_NONCE,
    },
  },
});
provider.proxy = false;

const stats = {
  tokens: 0,
  token_nonce_errors: 0,
  resource: { ok: 0, nonce_challenges: 0, refused: 0, proofs_with_nonce: 0 },
};
provider.on('grant.success', () => { stats.tokens += 1; });
provider.on('grant.error', (ctx, err) => {
  if (err && err.error === 'use_dpop_nonce') stats.token_nonce_errors += 1;
});

let resourceNonce = crypto.randomBytes(16).toString('base64url');
const seenJti = new Map();

function refuse(ctx, error, description) {
  stats.resource.refused += 1;
  ctx.status = 401;
  ctx.set('WWW-Authenticate', `DPoP error="${error}", error_description="${description}", algs="ES256 EdDSA"`);
  ctx.body = { error, error_description: description };
}

async function resource(ctx) {
  const auth = ctx.get('authorization');
  const m = /^DPoP (\S+)$/.exec(auth);
  if (!m) return refuse(ctx, 'invalid_token', 'DPoP authorization required');
  const token = await provider.ClientCredentials.find(m[1]);
  if (!token || token.isExpired) return refuse(ctx, 'invalid_token', 'unknown or expired token');
  if (!token.jkt) return refuse(ctx, 'invalid_token', 'token is not DPoP-bound');
  const proof = ctx.get('dpop');
  if (!proof) return refuse(ctx, 'invalid_dpop_proof', 'DPoP proof missing');
  let payload;
  let protectedHeader;
  try {
    ({ payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt', algorithms: ['ES256', 'EdDSA', 'Ed25519'],
    }));
  } catch (e) {
    return refuse(ctx, 'invalid_dpop_proof', `proof does not verify: ${e.code || e.message}`);
  }
  if (await calculateJwkThumbprint(protectedHeader.jwk) !== token.jkt) {
    return refuse(ctx, 'invalid_dpop_proof', 'proof key is not the bound key');
  }
  if (payload.htm !== ctx.method) return refuse(ctx, 'invalid_dpop_proof', 'htm mismatch');
  if (payload.htu !== `${ISSUER}${ctx.path}`) return refuse(ctx, 'invalid_dpop_proof', 'htu mismatch');
  if (payload.ath !== crypto.hash('sha256', m[1], 'base64url')) {
    return refuse(ctx, 'invalid_dpop_proof', 'ath mismatch');
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > 60) {
    return refuse(ctx, 'invalid_dpop_proof', 'iat outside the window');
  }
  if (typeof payload.jti !== 'string' || seenJti.has(payload.jti)) {
    return refuse(ctx, 'invalid_dpop_proof', 'jti replayed');
  }
  seenJti.set(payload.jti, now);
  if (payload.nonce !== undefined) stats.resource.proofs_with_nonce += 1;
  if (REQUIRE_NONCE && payload.nonce !== resourceNonce) {
    stats.resource.nonce_challenges += 1;
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"');
    ctx.set('DPoP-Nonce', resourceNonce);
    ctx.body = { error: 'use_dpop_nonce' };
    return undefined;
  }
  stats.resource.ok += 1;
  ctx.body = { client_id: token.clientId, jkt: token.jkt, method: ctx.method };
  return undefined;
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/test/stats') {
    ctx.body = stats;
    return;
  }
  if (ctx.path === '/test/rotate-nonce' && ctx.method === 'POST') {
    resourceNonce = crypto.randomBytes(16).toString('base64url');
    ctx.body = { ok: true };
    return;
  }
  if (ctx.path === '/api/whoami') {
    await resource(ctx);
    return;
  }
  await next();
});

provider.listen(PORT, '127.0.0.1', () => console.log(`dpop peer on ${ISSUER}`));
