"""Verify a JWT access token with Authlib's JOSE implementation, independently of synaptic.

Usage: python verify_jwt.py JWKS_URL TOKEN  ->  prints one JSON object: the header, the claims
and whether the signature verified with a key of the set (matched by `kid`).
"""

import json
import sys
import urllib.request

from authlib.jose import JsonWebKey, jwt
from authlib.jose.errors import JoseError


def main():
    jwks_url, token = sys.argv[1], sys.argv[2]
    with urllib.request.urlopen(jwks_url, timeout=10) as r:
        ctype = r.headers.get("content-type", "")
        jwks = json.load(r)
    out = {"jwks_content_type": ctype, "kids": [k.get("kid") for k in jwks.get("keys", [])]}
    try:
        keys = JsonWebKey.import_key_set(jwks)
        claims = jwt.decode(token, keys)
        claims.validate()
        out["verified"] = True
        out["header"] = dict(claims.header)
        out["claims"] = dict(claims)
    except JoseError as e:
        out["verified"] = False
        out["error"] = repr(e)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
