// openid-client 6 (a strict client) against synaptic's authorization server: RFC 8414
// discovery, client credentials, password + refresh (rotation), introspection, revocation.
// Env: AS (issuer URL), CID, CSEC. Prints one JSON line.
import * as client from 'openid-client';

const out = {};
try {
  const config = await client.discovery(new URL(process.env.AS), process.env.CID, undefined,
    client.ClientSecretBasic(process.env.CSEC),
    { execute: [client.allowInsecureRequests], algorithm: 'oauth2' });
  out.issuer = config.serverMetadata().issuer;
  const cc = await client.clientCredentialsGrant(config, { scope: 'view' });
  out.cc = { token_type: cc.token_type, expires_in: cc.expires_in, scope: cc.scope, refresh: !!cc.refresh_token };
  const pw = await client.genericGrantRequest(config, 'password',
    { username: 'alice', password: 'wonderland', scope: 'view book' });
  const rf = await client.refreshTokenGrant(config, pw.refresh_token);
  out.refresh = { scope: rf.scope, rotated: rf.refresh_token !== pw.refresh_token };
  out.introspect = (await client.tokenIntrospection(config, rf.access_token)).active;
  await client.tokenRevocation(config, rf.access_token);
  out.after_revoke = (await client.tokenIntrospection(config, rf.access_token)).active;
  try {
    await client.genericGrantRequest(config, 'password', { username: 'alice', password: 'nope' });
    out.bad_password = 'accepted';
  } catch (e) {
    out.bad_password = e.error ?? String(e);
  }
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = String(e) + ' ' + JSON.stringify(e.cause ?? '');
}
console.log(JSON.stringify(out));
