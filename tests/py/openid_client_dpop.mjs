// openid-client 6 doing DPoP (RFC 9449) against synaptic: a DPoP-bound token from the token
// endpoint (client credentials), then the protected API with a proof per request. The proofs
// openid-client sends are captured through customFetch so that the test can replay one.
// Env: AS (issuer URL), CID, CSEC, API (a protected URL). Prints one JSON line.
import * as client from 'openid-client';

const out = { proofs: [] };
try {
  const config = await client.discovery(new URL(process.env.AS), process.env.CID, undefined,
    client.ClientSecretBasic(process.env.CSEC),
    { execute: [client.allowInsecureRequests], algorithm: 'oauth2' });
  config[client.customFetch] = (url, options) => {
    const h = new Headers(options.headers);
    if (h.get('dpop')) out.proofs.push({ url: String(url), method: options.method, proof: h.get('dpop') });
    return fetch(url, options);
  };
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const dpop = client.getDPoPHandle(config, keyPair);
  const t = await client.clientCredentialsGrant(config, { scope: 'view' }, { DPoP: dpop });
  out.token_type = t.token_type;
  out.access_token = t.access_token;
  const r = await client.fetchProtectedResource(config, t.access_token, new URL(process.env.API),
    'GET', undefined, undefined, { DPoP: dpop });
  out.status = r.status;
  const r2 = await client.fetchProtectedResource(config, t.access_token, new URL(process.env.API),
    'GET', undefined, undefined, { DPoP: dpop });
  out.status2 = r2.status;
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = String(e) + ' ' + JSON.stringify(e.cause ?? '');
}
console.log(JSON.stringify(out));
