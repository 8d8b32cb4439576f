"""Authlib authorization server that accepts ONLY JWT client authentication (RFC 7523):
private_key_jwt and client_secret_jwt, through Authlib's own JWTBearerClientAssertion; and a
protected resource that answers with the token's client and scope. For synaptic's
endpoint-security tests.

Env: PORT (required), KEYS_DIR (required; the clients' private keys are generated there at
start: rsa.pem for pk-rsa, ec.pem for pk-ec, and wrong.pem registered nowhere).
Clients (client_credentials, scopes "view book"):
  pk-rsa  private_key_jwt, RS256 public key (kid "rsa-1")
  pk-ec   private_key_jwt, ES256 public key (kid "ec-1")
  sj      client_secret_jwt, secret SJ_SECRET below
Endpoints: POST /oauth/token; GET /api/whoami (bearer token -> {"client_id", "scope"});
GET /healthz.
"""
import os
import secrets
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, jsonify
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion

PORT = int(os.environ["PORT"])
KEYS_DIR = os.environ["KEYS_DIR"]
TOKEN_URL = f"http://127.0.0.1:{PORT}/oauth/token"
SJ_SECRET = "authlib-client-secret-jwt-secret-0123456789"

os.makedirs(KEYS_DIR, exist_ok=True)


def write_key(name, key):
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with open(os.path.join(KEYS_DIR, name), "wb") as f:
        f.write(pem)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


rsa_pub = write_key("rsa.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048))
ec_pub = write_key("ec.pem", ec.generate_private_key(ec.SECP256R1()))
write_key("wrong.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048))


class Client(ClientMixin):
    def __init__(self, client_id, method, key=None, secret=None):
        self.client_id, self.method, self.key, self.secret = client_id, method, key, secret

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        allowed = {"view", "book"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return False

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.method

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == "client_credentials"


CLIENTS = {
    "pk-rsa": Client("pk-rsa", "private_key_jwt",
                     key=RSAKey.import_key(rsa_pub, {"kid": "rsa-1", "alg": "RS256"})),
    "pk-ec": Client("pk-ec", "private_key_jwt",
                    key=ECKey.import_key(ec_pub, {"kid": "ec-1", "alg": "ES256"})),
    "sj": Client("sj", "client_secret_jwt", secret=SJ_SECRET),
}
TOKENS = {}
SEEN_JTI = set()
STATS = {"tokens": {}}


class Assertion(JWTBearerClientAssertion):
    """One handler per method; each handles only assertions of clients registered for it
    (Authlib offers every jwt-bearer assertion to each registered handler in turn)."""

    def __call__(self, query_client, request):
        assertion = request.form.get("client_assertion")
        if assertion:
            _, claims = self.extract_assertion(assertion)
            client = query_client(claims.get("sub")) if isinstance(claims.get("sub"), str) else None
            if client is not None and client.method != self.CLIENT_AUTH_METHOD:
                return None
        return super().__call__(query_client, request)

    def get_audiences(self):
        return [TOKEN_URL]

    def validate_jti(self, claims, jti):
        key = (claims["sub"], jti)
        if key in SEEN_JTI:
            return False
        SEEN_JTI.add(key)
        return True


class PrivateKeyAssertion(Assertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def resolve_client_public_key(self, client):
        return KeySet([client.key])


class SecretAssertion(Assertion):
    CLIENT_AUTH_METHOD = "client_secret_jwt"

    def resolve_client_public_key(self, client):
        return OctKey.import_key(client.secret or secrets.token_bytes(32))


class ClientCredentials(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt", "client_secret_jwt"]


def save_token(token, request):
    TOKENS[token["access_token"]] = {
        "client_id": request.client.client_id,
        "scope": token.get("scope", ""),
        "expires_at": time.time() + token.get("expires_in", 3600),
    }
    STATS["tokens"][request.client.client_id] = STATS["tokens"].get(request.client.client_id, 0) + 1


class Token(dict):
    def is_expired(self):
        return time.time() > self["expires_at"]

    def is_revoked(self):
        return False

    def get_scope(self):
        return self["scope"]


class Validator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        t = TOKENS.get(token_string)
        return Token(t) if t else None


app = Flask(__name__)
server = AuthorizationServer(app, query_client=CLIENTS.get, save_token=save_token)
server.register_client_auth_method("private_key_jwt", PrivateKeyAssertion())
server.register_client_auth_method("client_secret_jwt", SecretAssertion())
server.register_grant(ClientCredentials)
require = ResourceProtector()
require.register_token_validator(Validator())


@app.post("/oauth/token")
def token():
    return server.create_token_response()


@app.get("/api/whoami")
@require()
def whoami():
    return jsonify(client_id=current_token["client_id"], scope=current_token["scope"])


@app.get("/healthz")
def healthz():
    return jsonify(ok=True, **STATS)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=PORT, threaded=False)
