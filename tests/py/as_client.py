"""Drive synaptic's authorization server with real OAuth2 client libraries.

Usage: python as_client.py '<json request>'  ->  prints one JSON object.

The request has "op" and arguments; "base" is the gateway's URL. Operations:
  cc        requests-oauthlib BackendApplicationClient (client credentials, Basic auth)
  password  requests-oauthlib LegacyApplicationClient (resource owner password)
  refresh   requests-oauthlib OAuth2Session.refresh_token
  code      requests-oauthlib OAuth2Session with pkce="S256": authorization URL, the resource
            owner approves on the approval page (form posted by `requests`, CSRF token and
            cookie taken from the page), then the library exchanges the code
  authlib   Authlib httpx OAuth2Client: client credentials (client_secret_basic, quoted
            credentials), introspection and revocation
"""

import json
import os
import re
import sys

os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
# the resource owner may grant fewer scopes than asked (RFC 6749 §3.3)
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

import requests  # noqa: E402
from requests.auth import HTTPBasicAuth  # noqa: E402
from requests_oauthlib import OAuth2Session  # noqa: E402
from oauthlib.oauth2 import BackendApplicationClient, LegacyApplicationClient  # noqa: E402


def token_url(a):
    return a["base"] + "/oauth2/token"


def op_cc(a):
    s = OAuth2Session(client=BackendApplicationClient(client_id=a["client_id"]))
    return s.fetch_token(token_url(a), auth=HTTPBasicAuth(a["client_id"], a["secret"]),
                         scope=a.get("scope"))


def op_password(a):
    s = OAuth2Session(client=LegacyApplicationClient(client_id=a["client_id"]))
    return s.fetch_token(token_url(a), username=a["username"], password=a["password"],
                         auth=HTTPBasicAuth(a["client_id"], a["secret"]), scope=a.get("scope"))


def op_refresh(a):
    s = OAuth2Session(client_id=a["client_id"], scope=a.get("scope"))
    return s.refresh_token(token_url(a), refresh_token=a["refresh_token"],
                           auth=HTTPBasicAuth(a["client_id"], a["secret"]))


def approve_with_requests(url, a):
    """The resource owner: open the approval page, log in, keep the chosen scopes, approve."""
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False)
    assert page.status_code == 200, (page.status_code, page.text[:300])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = [("csrf_token", csrf), ("username", a["username"]), ("password", a["password"]),
            ("action", a.get("action", "approve"))]
    for sc in a.get("grant_scopes", []):
        form.append(("scope", sc))
    resp = browser.post(a["base"] + "/oauth2/authorize", data=form, allow_redirects=False)
    assert resp.status_code == 302, (resp.status_code, resp.text[:300])
    return resp.headers["Location"]


def op_code(a):
    public = not a.get("secret")
    s = OAuth2Session(a["client_id"], redirect_uri=a["redirect_uri"], scope=a.get("scope"),
                      pkce="S256")
    url, state = s.authorization_url(a["base"] + "/oauth2/authorize")
    location = approve_with_requests(url, a)
    if "error=" in location:
        return {"location": location}
    kw = {"include_client_id": True} if public else {
        "auth": HTTPBasicAuth(a["client_id"], a["secret"])}
    tok = s.fetch_token(token_url(a), authorization_response=location, **kw)
    tok["location"] = location
    tok["state_sent"] = state
    return tok


def op_authlib(a):
    from authlib.integrations.httpx_client import OAuth2Client
    out = {}
    with OAuth2Client(a["client_id"], a["secret"],
                      token_endpoint_auth_method="client_secret_basic") as c:
        tok = c.fetch_token(token_url(a), grant_type="client_credentials", scope=a.get("scope"))
        out["token"] = dict(tok)
        r = c.introspect_token(a["base"] + "/oauth2/introspect", token=tok["access_token"])
        out["introspect"] = {"status": r.status_code, "body": r.json(),
                             "cache_control": r.headers.get("cache-control")}
        r = c.revoke_token(a["base"] + "/oauth2/revoke", token=tok["access_token"],
                           token_type_hint="refresh_token")
        out["revoke_status"] = r.status_code
        r = c.introspect_token(a["base"] + "/oauth2/introspect", token=tok["access_token"])
        out["introspect_after"] = r.json()
    return out


OPS = {"cc": op_cc, "password": op_password, "refresh": op_refresh, "code": op_code,
       "authlib": op_authlib}


def main():
    a = json.loads(sys.argv[1])
    try:
        result = OPS[a["op"]](a)
        print(json.dumps({"ok": True, "result": dict(result)}))
    except Exception as e:  # the test asserts on the error
        print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}))


if __name__ == "__main__":
    main()
