#!/usr/bin/env python3
"""Load harness: synaptic against nginx, side by side in one run, on loopback.

Run it through `bench/run.sh` (see docs/PERFORMANCE.md). It starts

  * a backend: nginx answering every request with a small JSON body (and a token endpoint at
    /token for the sequences that fetch one),
  * nginx as a reverse proxy (`proxy_pass` to an upstream with keep-alive) -- the baseline,
  * synaptic (`target/release/synaptic serve`) with one API per case,

then drives every case with wrk under closed-loop load (c=50 and c=200) for each load (small
GET, 1 KiB and 100 KiB JSON POST) -- the HTTP/2 cases with h2load instead, over h2c (HTTP/2
with prior knowledge) to nginx's `http2` listener and to synaptic's plain listener, the same
number of requests in flight spread over a tenth as many connections (10 streams each) -- and prints requests/s, p50 and p99 latency, the CPU time the
server under test spent per request and its resident memory after the run, each as a ratio to
nginx's figure for the same load in the same round. Results go to bench/results/ as Markdown
and JSON.

CPU per request is read from /proc, not from wall-clock load: utime + stime of the process
tree of the server the load goes to (nginx master and workers; synaptic and all its threads),
read right before and right after each measured wrk run, divided by the requests wrk counted.
Only those processes count -- not wrk, not the backend -- so a noisy neighbour on the machine
changes the figure little. RSS is VmRSS of the same process tree after the run.

Adding a case is a few lines in CASES below: the API block(s) it needs in synaptic.toml, extra
files (sequences, certificates), and optionally a `prepare` function run once the servers are
up (e.g. to fetch a token the load should carry) that returns request headers.

Only the Python 3 standard library is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Environment shared by the cases
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Env:
    work: Path  # scratch folder of this run (removed at exit unless --keep)
    backend_port: int  # nginx answering {"ok":true} (and a token at /token)
    nginx_port: int  # nginx proxy_pass -> backend (keep-alive upstream)
    nginx_h2_port: int  # the same nginx proxy on an `http2` (h2c) listener
    nginx_tls_port: int  # the same nginx proxy on an `ssl` listener (HTTPS, HTTP/1.1)
    gateway_tls_port: int  # synaptic's `listen_tls`
    gateway_port: int  # synaptic

    @property
    def backend(self) -> str:
        return f"http://127.0.0.1:{self.backend_port}"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"


@dataclasses.dataclass
class Case:
    """One line of the comparison table."""

    name: str
    # which server the load goes to: "backend", "nginx", "nginx-h2" (its h2c listener),
    # "nginx-tls" (its HTTPS listener), "gateway" or "gateway-tls" (synaptic's HTTPS listener)
    target: str
    # request path on that server (the load's method and body apply)
    path: str = "/bench/item"
    # TOML appended to synaptic.toml for this case ([[api]] and its sub-tables); formatted with
    # {backend}, {backend_port}, {gateway}, {gateway_port}; identical blocks are written once
    api: str = ""
    # top-level TOML sections this case needs (e.g. [auth_server]); identical blocks are merged
    config: str = ""
    # extra files for the gateway folder: relative path -> text (formatted like `api`)
    files: dict = dataclasses.field(default_factory=dict)
    # run once after every server is up; returns headers for the load (e.g. Authorization)
    prepare: Optional[Callable[[Env], dict]] = None
    # the reference the ratios are computed against (exactly one case)
    baseline: bool = False
    note: str = ""
    # a form-encoded POST body sent instead of the load's method and body (token endpoint)
    form_body: str = ""
    # run only for loads whose name contains one of these (empty: every load)
    only_loads: tuple = ()
    # the load generator: "wrk" (HTTP/1.1) or "h2load" (HTTP/2 over h2c)
    driver: str = "wrk"
    # the case this one's ratios are computed against (None: the baseline case)
    versus: Optional[str] = None
    # every request carries a fresh DPoP proof (RFC 9449), signed before the run: the case's
    # `prepare` returns its key under "_dpop" (see `oauth2_dpop`)
    dpop: bool = False


def http(method: str, url: str, body: bytes = b"", headers: Optional[dict] = None,
         timeout: float = 10.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body if method != "GET" else None, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def warm_token_cache(env: Env) -> dict:
    """simple-token-gen: the first call takes the `then` branch (fetches a token from the
    backend's /token and stores it in the registry); every later call takes the cached `else`
    branch, which is what the load measures."""
    for path in ("/stg/bench/item", "/stg/bench/item"):
        status, body = http("GET", env.gateway + path)
        if status != 200:
            raise RuntimeError(f"warm-up GET {path} -> {status}: {body[:200]!r}")
    return {}


def warm_endpoint_security(env: Env) -> dict:
    """Native endpoint security: the first call fetches the token from the backend's /token
    (expires_in 3600), every later call uses the cached one."""
    status, body = http("GET", env.gateway + "/es/bench/item")
    if status != 200:
        raise RuntimeError(f"warm-up GET /es/bench/item -> {status}: {body[:200]!r}")
    return {}


def oauth2_bearer(env: Env) -> dict:
    """The gateway's own authorization server: one client-credentials token, sent as a bearer
    token on every request of the load (validated against the store each time)."""
    import base64
    basic = base64.b64encode(b"bench-client:bench-client-secret").decode()
    status, body = http("POST", env.gateway + "/oauth2/token", b"grant_type=client_credentials",
                        {"Authorization": "Basic " + basic,
                         "Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise RuntimeError(f"token endpoint -> {status}: {body[:200]!r}")
    token = json.loads(body)["access_token"]
    status, body = http("GET", env.gateway + "/sec/bench/item",
                        headers={"Authorization": "Bearer " + token})
    if status != 200:
        raise RuntimeError(f"warm-up GET /sec/bench/item -> {status}: {body[:200]!r}")
    return {"Authorization": "Bearer " + token}


class DpopSigner:
    """An ES256 key and the proofs it signs (`cryptography`: `bash .ci/setup.sh --bench`
    installs it). Proofs share their header and differ in `jti`; each is a real signature."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec
        self.key = ec.generate_private_key(ec.SECP256R1())
        nums = self.key.public_key().public_numbers()
        jwk = {"crv": "P-256", "kty": "EC", "x": b64u(nums.x.to_bytes(32, "big")),
               "y": b64u(nums.y.to_bytes(32, "big"))}
        self.header = b64u(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk},
                                      separators=(",", ":")).encode())

    def proof(self, method: str, url: str, token: str = "", iat: int = 0) -> str:
        import hashlib
        import secrets
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        claims = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url,
                  "iat": iat or int(time.time())}
        if token:
            claims["ath"] = b64u(hashlib.sha256(token.encode()).digest())
        signing_input = self.header + "." + b64u(json.dumps(claims, separators=(",", ":")).encode())
        r, s_ = decode_dss_signature(self.key.sign(signing_input.encode(),
                                                   ec.ECDSA(hashes.SHA256())))
        return signing_input + "." + b64u(r.to_bytes(32, "big") + s_.to_bytes(32, "big"))


def b64u(raw: bytes) -> str:
    import base64
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def oauth2_dpop(env: Env) -> dict:
    """A DPoP-bound JWT access token (client credentials with a proof at the token endpoint);
    the load sends it with the `DPoP` scheme and a fresh proof on every request."""
    import base64
    signer = DpopSigner()
    basic = base64.b64encode(b"bench-client:bench-client-secret").decode()
    token_url = env.gateway + "/oauth2/token"
    status, body = http("POST", token_url, b"grant_type=client_credentials",
                        {"Authorization": "Basic " + basic,
                         "Content-Type": "application/x-www-form-urlencoded",
                         "DPoP": signer.proof("POST", token_url)})
    if status != 200:
        raise RuntimeError(f"token endpoint (DPoP) -> {status}: {body[:200]!r}")
    answer = json.loads(body)
    if answer.get("token_type") != "DPoP":
        raise RuntimeError(f"token endpoint gave a {answer.get('token_type')!r} token, not DPoP")
    token = answer["access_token"]
    url = env.gateway + DPOP_PATH
    status, body = http("GET", url, headers={"Authorization": "DPoP " + token,
                                             "DPoP": signer.proof("GET", url, token)})
    if status != 200:
        raise RuntimeError(f"warm-up GET {DPOP_PATH} -> {status}: {body[:200]!r}")
    return {"Authorization": "DPoP " + token, "_dpop": signer}


DPOP_PATH = "/sec/bench/item"


def dpop_script(path: Path, env: Env, headers: dict, count: int, threads: int) -> None:
    """A wrk script sending `count` fresh proofs, split between its threads (one file each,
    read at start); a thread that runs out sends a proof the gateway refuses, which shows as
    errors rather than as a replay accepted."""
    signer: DpopSigner = headers["_dpop"]
    token = headers["Authorization"].split(" ", 1)[1]
    url = env.gateway + DPOP_PATH
    iat = int(time.time())
    files = [open(path.with_suffix(f".proofs{t}"), "w") for t in range(threads)]
    try:
        for i in range(count):
            files[i % threads].write(signer.proof("GET", url, token, iat) + "\n")
    finally:
        for f in files:
            f.close()
    prefix = str(path.with_suffix(".proofs"))
    path.write_text(f"""wrk.method = "GET"
local auth = "{headers['Authorization']}"
local n = 0
function setup(thread)
  thread:set("id", n)
  n = n + 1
end
function init(args)
  proofs = {{}}
  for line in io.lines("{prefix}" .. id) do proofs[#proofs + 1] = line end
  i = 0
end
function request()
  i = i + 1
  return wrk.format(nil, nil, {{["Authorization"] = auth, ["DPoP"] = proofs[i] or "spent"}})
end
""")


def oauth2_basic(env: Env) -> dict:
    import base64
    return {"Authorization": "Basic " + base64.b64encode(
        b"bench-client:bench-client-secret").decode()}


AUTH_SERVER_CONFIG = """
[auth_server]
enabled = true
store = "data/auth.db"
purge_interval = 60
# the bench fetches its tokens over plain HTTP on loopback, also when the HTTPS cases run
https_redirect = false

[[auth_server.scope]]
name = "bench"

[[auth_server.client]]
id = "bench-client"
secret = "bench-client-secret"
grants = ["client_credentials"]
scopes = ["bench"]
token_lifetime = 3600
"""


# the pass-through API behind `security = "oauth2"` (one resource, scope `bench`), shared by the
# opaque-token and the JWT cases
SECURED_API = """
[[api]]
name = "BenchSecured"
context = "/sec"
endpoint = "{backend}"
security = "oauth2"

[[api.resource]]
uri_template = "/*"
scopes = ["bench"]
"""


def simple_token_gen_sequence() -> str:
    """The shipped sequence, with its token endpoint pointed at the bench backend."""
    text = (ROOT / "sequences" / "simple-token-gen.xml").read_text()
    text, n = re.subn(r'uri-template="[^"]*"', 'uri-template="{backend}/token"', text, count=1)
    if n != 1:
        raise RuntimeError("sequences/simple-token-gen.xml: no uri-template to point at the bench")
    return text


# --------------------------------------------------------------------------------------------
# CASES -- add yours here
# --------------------------------------------------------------------------------------------

# the pass-through API: its cases over HTTP/1.1 and h2c share it, whichever is selected
PASS_API = """
[[api]]
name = "BenchPass"
context = "/pass"
endpoint = "{backend}"
"""

CASES: list[Case] = [
    Case("backend direct", target="backend",
         note="nginx `return 200` with a 16-byte JSON body"),
    Case("nginx proxy_pass", target="nginx", baseline=True,
         note="upstream keepalive 64, HTTP/1.1 to the backend"),
    Case("synaptic pass-through", target="gateway", path="/pass/bench/item", api=PASS_API,
         note="no sequence"),
    Case("synaptic simple-token-gen (cached)", target="gateway", path="/stg/bench/item",
         api="""
[[api]]
name = "BenchTokenGen"
context = "/stg"
endpoint = "{backend}"
in_sequence = "simple-token-gen"
""",
         files={"sequences/simple-token-gen.xml": "@simple-token-gen"},
         prepare=warm_token_cache,
         note="in-flow sequences/simple-token-gen.xml, token cached in the registry (`else` branch)"),
    # The pass-through API again, with native endpoint security and a cached
    # token; compare its req/s with "synaptic pass-through" (target: at least 95 %).
    Case("synaptic endpoint security (cached)", target="gateway", path="/es/bench/item",
         api="""
[[api]]
name = "BenchEndpointSecurity"
context = "/es"
endpoint = "{backend}"

[api.endpoint_security]
type = "oauth2"
grant_type = "client_credentials"
token_url = "{backend}/token"
client_id = "bench"
client_secret = "bench-secret"
scope = "bench"
""",
         prepare=warm_endpoint_security,
         note="pass-through plus [api.endpoint_security] (client_credentials); the token is "
              "fetched once during warm-up and served from the in-memory cache"),
]

CASES += [
    # The pass-through API again, protected by the gateway's own authorization
    # server; every request's bearer token is validated (SHA-256 lookup in SQLite). Compare its
    # req/s with "synaptic pass-through" (target: at least 90 %).
    Case("synaptic oauth2-secured API", target="gateway", path="/sec/bench/item",
         config=AUTH_SERVER_CONFIG,
         api=SECURED_API,
         prepare=oauth2_bearer,
         note="pass-through plus `security = \"oauth2\"`: a bearer token from the gateway's own "
              "token endpoint, validated on every request"),
    # The same secured API with JWT access tokens (RFC 9068, ES256): the first request verifies
    # the signature, later ones find the token in the validated-token cache (SHA-256 of the
    # token; revocation, audience and scope still checked per request). Compare with
    # "synaptic pass-through" (target: at least 95 %).
    Case("synaptic oauth2-secured API (JWT)", target="gateway", path="/sec/bench/item",
         config=AUTH_SERVER_CONFIG.replace(
             "purge_interval = 60\n", 'purge_interval = 60\naccess_token_format = "jwt"\n'),
         api=SECURED_API,
         prepare=oauth2_bearer,
         note="the oauth2-secured API with `access_token_format = \"jwt\"`: a JWT from the "
              "gateway's own token endpoint, validated from the validated-token cache"),
    # The JWT case with DPoP-bound tokens (RFC 9449): every request carries a fresh ES256
    # proof, whose signature the gateway verifies and whose `jti` it remembers. Compare with
    # "synaptic pass-through" (target: at least 85 %). The proofs are signed before each run.
    Case("synaptic oauth2-secured API (JWT, DPoP)", target="gateway", path=DPOP_PATH,
         config=AUTH_SERVER_CONFIG.replace(
             "purge_interval = 60\n", 'purge_interval = 60\naccess_token_format = "jwt"\n'),
         api=SECURED_API,
         prepare=oauth2_dpop,
         dpop=True,
         only_loads=("GET",),
         note="the JWT case with a DPoP-bound token: a fresh proof per request (ES256 signature "
              "verified, `jti` remembered), signed by the harness before each run"),
    # Client-credentials issuance rate of the token endpoint (argon2id-hashed
    # secret, verified once then remembered; one SQLite insert per token).
    Case("synaptic token endpoint (client credentials)", target="gateway", path="/oauth2/token",
         config=AUTH_SERVER_CONFIG, prepare=oauth2_basic,
         form_body="grant_type=client_credentials", only_loads=("GET",),
         note="POST /oauth2/token grant_type=client_credentials with Basic auth; each request "
              "issues and stores a new token (shown in the GET row)"),
]

CASES += [
    # HTTP/2 to clients: h2load over h2c against nginx's `http2` listener (HTTP/1.1 upstream,
    # keep-alive) and against synaptic's pass-through API on its plain listener. Compare the
    # synaptic row's "vs" ratios, which are against the nginx HTTP/2 row (target: at least
    # 85 % of its req/s).
    Case("nginx http2 proxy_pass (h2c)", target="nginx-h2", driver="h2load",
         note="nginx `listen … http2` (h2c), proxy_pass to the backend over HTTP/1.1 with "
              "keep-alive; h2load, 10 streams per connection"),
    Case("synaptic pass-through (h2c)", target="gateway", path="/pass/bench/item",
         api=PASS_API, driver="h2load", versus="nginx http2 proxy_pass (h2c)",
         note="the pass-through API over h2c (HTTP/2 with prior knowledge on the plain "
              "listener), HTTP/1.1 to the backend; ratios against nginx http2 proxy_pass"),
]

CASES += [
    # EIP fan-out: each request becomes three backend calls made at once (iterate + call),
    # gathered by aggregate into one answer. Compare errors (none) and RSS at c=200; its CPU
    # per request is that of four proxied requests and more.
    Case("synaptic iterate/aggregate fan-out (3 calls)", target="gateway", path="/fan/all",
         only_loads=("GET",),
         files={"sequences/BenchFan.xml": """<api xmlns="http://ws.apache.org/ns/synapse" name="BenchFan" context="/fan">
  <resource methods="GET" uri-template="/all">
    <inSequence>
      <payloadFactory media-type="json"><format>{"items":[{"sku":"a"},{"sku":"b"},{"sku":"c"}]}</format><args/></payloadFactory>
      <iterate expression="json-eval($.items)">
        <target><sequence><call><endpoint><http method="POST" uri-template="{backend}/bench/item"/></endpoint></call></sequence></target>
      </iterate>
      <aggregate>
        <onComplete expression="json-eval($)"><respond/></onComplete>
      </aggregate>
    </inSequence>
  </resource>
</api>
"""},
         note="an XML <api>: a three-item JSON body made by payloadFactory, iterate with a "
              "<call> per item (concurrently), aggregate into one JSON answer"),
]

# the pass-through API the HTTPS cases share (a `config` block: added once)
PASS_TLS_API = """
[[api]]
name = "BenchPassTls"
context = "/passtls"
endpoint = "{backend}"
"""

CASES += [
    # HTTPS: wrk over TLS (keep-alive, so handshakes are amortised) against nginx's `ssl`
    # listener and synaptic's `listen_tls`, both with the same self-signed P-256 certificate.
    Case("nginx proxy_pass (https)", target="nginx-tls",
         note="nginx `listen … ssl` (TLS 1.2/1.3, P-256 certificate), proxy_pass to the backend "
              "over HTTP/1.1 with keep-alive"),
    Case("synaptic pass-through (https)", target="gateway-tls", path="/passtls/bench/item",
         versus="nginx proxy_pass (https)", config=PASS_TLS_API,
         note="the pass-through API on `listen_tls` (rustls, same certificate); ratios against "
              "nginx proxy_pass (https)"),
    # full handshakes: `Connection: close` on every request, so each one opens a new TLS
    # connection (wrk does not resume sessions)
    Case("nginx https, handshake per request", target="nginx-tls", only_loads=("GET",),
         prepare=lambda env: {"Connection": "close"},
         note="as nginx proxy_pass (https), every request on a new connection (a full TLS "
              "handshake each)"),
    Case("synaptic https, handshake per request", target="gateway-tls",
         path="/passtls/bench/item", only_loads=("GET",), config=PASS_TLS_API,
         versus="nginx https, handshake per request",
         prepare=lambda env: {"Connection": "close"},
         note="as synaptic pass-through (https), every request on a new connection; ratios "
              "against nginx https, handshake per request"),
]


def self_signed(d: Path) -> tuple[Path, Path]:
    """A P-256 certificate for 127.0.0.1 (openssl), for the HTTPS cases."""
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    os.chmod(d, 0o755)
    os.chmod(key, 0o644)  # nginx's worker reads it after dropping privileges
    return cert, key


LOADS = {
    # name: (method, body bytes)
    "GET": ("GET", 0),
    "POST 1 KiB": ("POST", 1024),
    "POST 100 KiB": ("POST", 100 * 1024),
}


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, what: str, proc: subprocess.Popen, log: Path, attempts: int = 300):
    for _ in range(attempts):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; log:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                r.read()
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url}; log:\n{tail(log)}")


def tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError as e:
        return f"(no log: {e})"


NGINX_COMMON = """
daemon off;
master_process on;
worker_processes {workers};
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log {access_log};
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size 4m;
    client_body_buffer_size 1m;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    {body}
}}
"""

BACKEND_HTTP = """
    server {{
        listen 127.0.0.1:{port} reuseport;
        default_type application/json;
        location = /token {{
            return 200 '{{"access_token":"bench-token-0123456789","token_type":"Bearer","expires_in":3600}}';
        }}
        location / {{
            return 200 '{{"ok":true,"n":1}}';
        }}
    }}
"""

PROXY_HTTP = """
    upstream backend {{
        server 127.0.0.1:{backend_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        listen 127.0.0.1:{h2_port} http2 reuseport;
        listen 127.0.0.1:{tls_port} ssl reuseport;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:bench:1m;
        http2_max_concurrent_streams 128;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
"""


class Servers:
    def __init__(self, args, env: Env, cases: list[Case]):
        self.args = args
        self.env = env
        self.cases = cases
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def cpu(self, role: str, name: str = "") -> list[str]:
        """taskset prefix: servers under test on CPU 0, backend and wrk on CPU 1; with
        --callgrind, the servers under test run under valgrind's callgrind."""
        pre = []
        if not (self.args.no_pin or (os.cpu_count() or 1) < 2 or not shutil.which("taskset")):
            pre = ["taskset", "-c", "0" if role == "proxy" else "1"]
        if self.args.callgrind and role == "proxy" and name:
            out = self.env.work / "callgrind"
            out.mkdir(exist_ok=True)
            # names written out in every dump, so that each one (a measured run) can be read
            # on its own with callgrind_annotate (the scratch folder stays with --keep)
            pre += ["valgrind", "--tool=callgrind", "--trace-children=yes",
                    "--compress-strings=no", "--compress-pos=no",
                    f"--callgrind-out-file={out}/{name}.%p"]
        return pre

    def spawn(self, name: str, cmd: list[str], log: Path, cwd: Optional[Path] = None,
              env: Optional[dict] = None) -> subprocess.Popen:
        f = open(log, "ab")
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                             cwd=cwd, env=env, start_new_session=True)
        self.procs.append((name, p))
        return p

    def pid(self, target: str) -> Optional[int]:
        """The pid of the server a case's load goes to (taskset execs it: same pid)."""
        name = {"backend": "backend", "nginx": "proxy", "nginx-h2": "proxy",
                "nginx-tls": "proxy", "gateway": "synaptic", "gateway-tls": "synaptic"}[target]
        return next((p.pid for n, p in self.procs if n == name), None)

    def nginx(self, name: str, body: str, workers: int, role: str) -> None:
        d = self.env.work / name
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "nginx.conf"
        # The backend never logs (it serves every case alike); the proxy logs like nginx's
        # default (one unbuffered write per request) unless --access-log off.
        access = f"{d}/access.log" if role == "proxy" and self.args.access_log == "on" else "off"
        text = NGINX_COMMON.format(workers=workers, dir=d, body=body, access_log=access)
        if self.args.callgrind and role == "proxy":
            # one process, woken every 50 ms, so that callgrind_control's requests are served
            # while the worker waits in epoll (the master would never answer them)
            text = text.replace("master_process on;", "master_process off;\ntimer_resolution 50ms;")
        conf.write_text(text)
        os.chmod(d, 0o777)
        log = d / "stdout.log"
        p = self.spawn(name, self.cpu(role, name) + ["nginx", "-p", str(d), "-c", str(conf)],
                       log)
        port = self.env.backend_port if name == "backend" else self.env.nginx_port
        wait_http(f"http://127.0.0.1:{port}/", name, p, d / "error.log")

    def gateway(self, binary: Path) -> None:
        d = self.env.work / "gateway"
        (d / "sequences").mkdir(parents=True, exist_ok=True)
        (d / "registry").mkdir(parents=True, exist_ok=True)
        fmt = dict(backend=self.env.backend, backend_port=self.env.backend_port,
                   gateway=self.env.gateway, gateway_port=self.env.gateway_port)
        config = [f"""# generated by bench/bench.py
[server]
listen = "127.0.0.1:{self.env.gateway_port}"
sequences = "sequences"
registry = "registry"
access_log = {"true" if self.args.access_log == "on" else "false"}
listen_tls = "127.0.0.1:{self.env.gateway_tls_port}"

[server.tls]
cert = "{self.env.work / 'tls' / 'cert.pem'}"
key = "{self.env.work / 'tls' / 'key.pem'}"
"""]
        seen = set()
        for c in self.cases:
            if not c.target.startswith("gateway"):
                continue
            if c.config and c.config not in seen:
                seen.add(c.config)
                config.append(c.config.format(**fmt))
        apis = set()
        for c in self.cases:
            if not c.target.startswith("gateway"):
                continue
            # cases that load one API differently (bearer and DPoP tokens) share its block
            if c.api not in apis:
                apis.add(c.api)
                config.append(c.api.format(**fmt))
            for rel, text in c.files.items():
                if text == "@simple-token-gen":
                    text = simple_token_gen_sequence()
                p = d / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text.replace("{backend}", self.env.backend)
                             .replace("{gateway}", self.env.gateway))
        (d / "synaptic.toml").write_text("\n".join(config))
        log = d / "synaptic.log"
        env = dict(os.environ)
        p = self.spawn("synaptic", self.cpu("proxy", "synaptic") + [
            str(binary), "serve", "--config", str(d / "synaptic.toml")],
                       log, cwd=d, env=env)
        wait_http(f"{self.env.gateway}/health", "synaptic", p, log)

    def stop(self) -> None:
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# --------------------------------------------------------------------------------------------
# CPU and memory of the servers under test, from /proc
# --------------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> Optional[list[str]]:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ')'
    return text[text.rfind(")") + 2:].split()


def process_tree(root: int) -> list[int]:
    """`root` and its descendants (nginx master and workers)."""
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        f = _stat_fields(int(d.name))
        if f:
            parents.setdefault(int(f[1]), []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def cpu_seconds(root: Optional[int]) -> float:
    """utime + stime (all threads) of a process tree, in seconds."""
    if root is None:
        return float("nan")
    ticks = 0
    for pid in process_tree(root):
        f = _stat_fields(pid)
        if f:
            ticks += int(f[11]) + int(f[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / CLK_TCK


def rss_mib(root: Optional[int]) -> float:
    """VmRSS of a process tree, in MiB."""
    if root is None:
        return float("nan")
    kib = 0
    for pid in process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kib += int(line.split()[1])
        except OSError:
            pass
    return kib / 1024


def callgrind_instructions(root: Optional[int], work: Path, action: str) -> float:
    """With --callgrind: zero the counters of every process of the tree (`action` "zero"), or
    dump them and return the instructions counted since (`action` "dump")."""
    if root is None:
        return float("nan")
    total = 0
    for pid in process_tree(root):
        flag = "-z" if action == "zero" else "-d"
        try:
            subprocess.run(["callgrind_control", flag, str(pid)], capture_output=True,
                           timeout=30)
        except subprocess.TimeoutExpired:
            print(f"bench: callgrind_control {flag} {pid} timed out", file=sys.stderr)
            continue
        if action == "dump":
            dumps = sorted((work / "callgrind").glob(f"*.{pid}.*"),
                           key=lambda f: f.stat().st_mtime)
            if not dumps:
                continue
            for line in dumps[-1].read_text(errors="replace").splitlines():
                if line.startswith(("totals:", "summary:")):
                    total += int(line.split()[1])
                    break
    return float(total)


# --------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def seconds(duration: str) -> int:
    """A wrk duration (`10s`, `2m`, `1h`) in whole seconds."""
    m = re.fullmatch(r"(\d+)([smh]?)", duration.strip())
    if not m:
        raise ValueError(f"unparsable duration {duration!r}")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unparsable latency {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def lua_script(path: Path, method: str, size: int, headers: dict, form_body: str = "") -> None:
    lines = [f'wrk.method = "{method}"']
    if form_body:
        lines = ['wrk.method = "POST"', f"wrk.body = '{form_body}'",
                 'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"']
    elif size:
        filler = "x" * (size - len('{"data":""}'))
        lines.append(f'wrk.body = \'{{"data":"{filler}"}}\'')
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    for k, v in headers.items():
        if not k.startswith("_"):
            lines.append(f'wrk.headers["{k}"] = "{v}"')
    path.write_text("\n".join(lines) + "\n")


def run_wrk(args, servers: Servers, url: str, script: Path, duration: str, connections: int,
            pid: Optional[int] = None) -> dict:
    """One closed-loop wrk run; with `pid`, the CPU time and RSS of that server's process
    tree around it."""
    threads = min(args.threads, connections)
    cmd = servers.cpu("load") + ["wrk", "-t", str(threads), "-c", str(connections),
                                 "-d", duration, "--latency", "-s", str(script), url]
    if args.callgrind and pid is not None:
        callgrind_instructions(pid, servers.env.work, "zero")
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    cpu_after = cpu_seconds(pid)
    instructions = callgrind_instructions(pid, servers.env.work, "dump") \
        if args.callgrind and pid is not None else float("nan")
    text = out.stdout
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr}{text}")
    res = {"raw": text}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    res["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)", text, re.M)
        res[f"p{pct}"] = to_ms(m.group(1)) if m else float("nan")
    m = re.search(r"(\d+) requests in", text)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
    res["errors"] = errors
    res["cpu_us"] = (cpu_after - cpu_before) * 1e6 / res["requests"] \
        if res["requests"] else float("nan")
    res["rss_mib"] = rss_mib(pid)
    res["kinstr"] = instructions / 1000 / res["requests"] if res["requests"] else float("nan")
    return res


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def h2load_body(path: Path, size: int, form_body: str = "") -> Optional[Path]:
    """The request body file of an h2load load (None: GET)."""
    if form_body:
        path.write_text(form_body)
        return path
    if not size:
        return None
    path.write_text('{"data":"' + "x" * (size - len('{"data":""}')) + '"}')
    return path


def run_h2load(args, servers: Servers, url: str, body: Optional[Path], headers: dict,
               duration: str, connections: int, pid: Optional[int] = None,
               form: bool = False) -> dict:
    """One closed-loop h2load run over h2c: `connections` requests in flight, as
    connections/10 connections of 10 streams each; latency percentiles from its per-request
    log; with `pid`, the CPU time and RSS of that server's process tree around it."""
    streams = 10 if connections >= 10 else 1
    clients = max(1, connections // streams)
    threads = min(args.threads, clients)
    seconds = to_ms(duration) / 1000.0
    fd, name = tempfile.mkstemp(prefix="h2load-", suffix=".log")
    os.close(fd)
    log = Path(name)
    cmd = servers.cpu("load") + ["h2load", "-c", str(clients), "-m", str(streams),
                                 "-t", str(threads), "-D", f"{seconds:g}",
                                 "--log-file", str(log)]
    if body is not None:
        cmd += ["-d", str(body), "-H",
                "content-type: " + ("application/x-www-form-urlencoded" if form
                                    else "application/json")]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(url)
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    cpu_after = cpu_seconds(pid)
    text = out.stdout
    try:
        if out.returncode != 0:
            raise RuntimeError(f"h2load failed ({out.returncode}): {out.stderr}{text}")
        res = {"raw": text}
        m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text)
        res["rps"] = float(m.group(1)) if m else 0.0
        m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
        done = int(m.group(2)) if m else 0
        res["requests"] = done
        m2 = re.search(r"status codes: (\d+) 2xx", text)
        ok = int(m2.group(1)) if m2 else 0
        # errored and timed-out requests and non-2xx answers (requests cut off when the
        # duration ends count as "failed" in h2load's own line, not here)
        res["errors"] = (int(m.group(5)) + int(m.group(6)) if m else 0) + max(0, done - ok)
        times = []
        try:
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    times.append(int(parts[2]) / 1000.0)  # µs -> ms
        except (OSError, ValueError):
            pass
        times.sort()
        for pct in (50, 99):
            res[f"p{pct}"] = times[min(len(times) - 1, len(times) * pct // 100)] \
                if times else float("nan")
    finally:
        log.unlink(missing_ok=True)
    res["cpu_us"] = (cpu_after - cpu_before) * 1e6 / res["requests"] \
        if res["requests"] else float("nan")
    res["rss_mib"] = rss_mib(pid)
    res["kinstr"] = float("nan")  # instructions are counted on wrk loads only
    return res


def machine_notes() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    rev = version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3])
        if Path("/proc/loadavg").exists() else "?",
        "kernel": platform.release(),
        "nginx": version(["nginx", "-v"]),
        "wrk": version(["wrk", "--version"]),
        "h2load": version(["h2load", "--version"]),
        "synaptic": f"git {rev}",
    }


def fmt_ratio(x: float) -> str:
    return "—" if x != x else f"{x:.2f}"


def report(args, notes: dict, results: dict, cases: list[Case]) -> str:
    base = next((c.name for c in cases if c.baseline), None)
    out = []
    out.append(f"# synaptic load benchmark, {notes['date']}\n")
    out.append(f"Command: `{args.command_line}`\n")
    out.append(f"Machine: {notes['cpus']} CPUs ({notes['cpu']}), kernel {notes['kernel']}, "
               f"load average at start {notes['loadavg']}; {notes['nginx']}; {notes['wrk']}; "
               f"{notes['h2load']}; "
               f"synaptic {notes['synaptic']} (release build).\n")
    pin = "no CPU pinning" if args.no_pin else \
        "servers under test pinned to CPU 0, backend and wrk to CPU 1 (taskset)"
    out.append(f"Load: closed-loop wrk -t{args.threads} -d{args.duration} at each concurrency "
               f"({args.connections}) per case and "
               f"load, after a {args.warmup} warm-up; {args.rounds} round(s), medians shown (a ratio "
               f"is the median of the per-round ratios to the same round's baseline); {pin}; "
               f"access log {args.access_log} for both nginx proxy and synaptic. "
               f"Ratios are against `{base}` for the same load (rps: higher is better; "
               f"latency, CPU and RSS: lower is better). CPU µs/req is utime+stime of the "
               f"process tree of the server under test (from /proc, around the measured run) "
               f"per request; RSS is its VmRSS after the run.\n")
    if args.callgrind:
        out.append("Instruction counts: the servers under test ran under valgrind's callgrind "
                   "(so req/s, latency and CPU time are those of an instrumented process, tens of "
                   "times slower; only the instruction columns compare), counters zeroed before "
                   "and dumped after each measured run; k instr/req is thousands of instructions "
                   "the server under test executed per request, repeatable whatever else the "
                   "machine is doing.\n")
    for load in results:
        out.append(f"\n## {load}\n")
        out.append("| case | req/s | p50 ms | p99 ms | CPU µs/req | RSS MiB | req/s vs nginx "
                   "| p50 vs nginx | p99 vs nginx | CPU vs nginx | RSS vs nginx | errors |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        if args.callgrind:
            out[-2] += " k instr/req | instr vs nginx |"
            out[-1] += "---:|---:|"
        for c in cases:
            r = results[load].get(c.name)
            if r is None:
                continue
            if "failed" in r:
                out.append(f"| {c.name} | failed: {r['failed']} | | | | | | | | | | |")
                continue
            ratio = {k: fmt_ratio(r[f"ratio_{k}"]) if f"ratio_{k}" in r else "—"
                     for k in ("rps", "p50", "p99", "cpu_us", "rss_mib")}
            out.append(f"| {c.name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                       f"{r['cpu_us']:.1f} | {r['rss_mib']:.1f} | {ratio['rps']} | "
                       f"{ratio['p50']} | {ratio['p99']} | {ratio['cpu_us']} | "
                       f"{ratio['rss_mib']} | {r['errors']} |")
            if args.callgrind:
                out[-1] += f" {r['kinstr']:.1f} | {fmt_ratio(r['ratio_kinstr']) if 'ratio_kinstr' in r else '—'} |"
    out.append("\nCases:\n")
    for c in cases:
        vs = f" Ratios against `{c.versus}`." if c.versus else ""
        out.append(f"* **{c.name}** — {c.note}.{vs}" if vs else f"* **{c.name}** — {c.note}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", default="10s", help="wrk duration per measurement (10s)")
    ap.add_argument("--warmup", default="2s", help="wrk warm-up per measurement, discarded (2s)")
    ap.add_argument("--connections", default="50,200",
                    help="comma-separated wrk concurrencies, each a closed-loop run (50,200)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the whole matrix, report the median rps (1)")
    ap.add_argument("--cases", default="",
                    help="comma-separated substrings: run only matching cases (+ the baseline); "
                         "`=name` matches one case by its whole name")
    ap.add_argument("--loads", default="", help="comma-separated substrings of load names")
    ap.add_argument("--gateway-bin", default=str(ROOT / "target" / "release" / "synaptic"))
    ap.add_argument("--out", default="", help="Markdown report path (bench/results/<time>.md)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    ap.add_argument("--access-log", choices=["on", "off"], default="on",
                    help="access log of nginx proxy and synaptic, both written to a file (on)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--callgrind", action="store_true",
                    help="run the servers under test under valgrind's callgrind and report "
                         "instructions per request (repeatable on a busy machine; slow)")
    ap.add_argument("--command-line", default="bench/run.sh", help=argparse.SUPPRESS)
    args = ap.parse_args()

    cases = CASES
    if args.cases:
        wanted = [w.strip().lower() for w in args.cases.split(",") if w.strip()]
        cases = [c for c in CASES if c.baseline or any(
            c.name.lower() == w[1:] if w.startswith("=") else w in c.name.lower()
            for w in wanted)]
    # one synaptic process serves every selected case: two cases whose `config` blocks set the
    # same top-level section differently (the authorization server with opaque or JWT access
    # tokens) cannot run together
    owners: dict = {}
    for c in cases:
        for section in re.findall(r"^\[([\w.]+)\]\s*$", c.config, re.M):
            other = owners.setdefault(section, c)
            if other.config != c.config:
                print(f"bench: cases {other.name!r} and {c.name!r} need different [{section}] "
                      "sections; select them in separate runs (--cases)", file=sys.stderr)
                return 2
    concurrencies = [int(c) for c in str(args.connections).split(",") if c.strip()]
    loads = {f"{k}, c={conc}": (m, size, conc)
             for conc in concurrencies for k, (m, size) in LOADS.items()
             if not args.loads or any(w.strip().lower() in k.lower()
                                      for w in args.loads.split(","))}
    tools = ["nginx", "wrk", "openssl"] + (["h2load"] if any(c.driver == "h2load" for c in cases) else [])
    tools += ["valgrind", "callgrind_control"] if args.callgrind else []
    for tool in tools:
        if not shutil.which(tool):
            print(f"bench: {tool} is missing: run `bash .ci/setup.sh --bench`", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix="synaptic-bench-"))
    env = Env(work=work, backend_port=free_port(), nginx_port=free_port(),
              nginx_h2_port=free_port(), nginx_tls_port=free_port(), gateway_port=free_port(),
              gateway_tls_port=free_port())
    servers = Servers(args, env, cases)
    notes = machine_notes()
    results: dict = {load: {} for load in loads}
    failed_cases: dict = {}
    headers: dict = {}
    try:
        servers.nginx("backend", BACKEND_HTTP.format(port=env.backend_port), 1, "backend")
        cert, key = self_signed(work / "tls")
        servers.nginx("proxy", PROXY_HTTP.format(port=env.nginx_port, h2_port=env.nginx_h2_port,
                                                 tls_port=env.nginx_tls_port, cert=cert, key=key,
                                                 backend_port=env.backend_port), 1, "proxy")
        if any(c.target.startswith("gateway") for c in cases):
            binary = Path(args.gateway_bin)
            try:
                if not binary.exists():
                    raise RuntimeError(f"{binary} not built")
                servers.gateway(binary)
            except RuntimeError as e:
                print(f"bench: synaptic did not start: {e}", file=sys.stderr)
                for c in cases:
                    if c.target.startswith("gateway"):
                        failed_cases[c.name] = "gateway did not start"
        for c in cases:
            if c.name in failed_cases or c.prepare is None:
                continue
            try:
                headers[c.name] = c.prepare(env) or {}
            except Exception as e:  # a case's own set-up failing fails only that case
                failed_cases[c.name] = f"prepare: {e}"
                print(f"bench: {c.name}: {e}", file=sys.stderr)

        runs: dict = {(load, c.name): [] for load in loads for c in cases}
        for rnd in range(args.rounds):
            for load, (method, size, conc) in loads.items():
                for c in cases:
                    if c.name in failed_cases:
                        continue
                    if c.only_loads and not any(o in load for o in c.only_loads):
                        continue
                    port = {"backend": env.backend_port, "nginx": env.nginx_port,
                            "nginx-h2": env.nginx_h2_port, "nginx-tls": env.nginx_tls_port,
                            "gateway": env.gateway_port,
                            "gateway-tls": env.gateway_tls_port}[c.target]
                    scheme = "https" if c.target.endswith("-tls") else "http"
                    url = f"{scheme}://127.0.0.1:{port}{c.path}"
                    script = work / f"load-{len(runs)}-{abs(hash((load, c.name)))}.lua"
                    try:
                        if c.driver == "h2load":
                            body = h2load_body(script.with_suffix(".body"), size, c.form_body)
                            h = headers.get(c.name, {})
                            form = bool(c.form_body)
                            run_h2load(args, servers, url, body, h, args.warmup, conc,
                                       form=form)
                            r = run_h2load(args, servers, url, body, h, args.duration, conc,
                                           servers.pid(c.target), form=form)
                        elif c.dpop:
                            # proofs for the warm-up at a generous rate, then for the measured
                            # run at half as much again as the warm-up's rate
                            if seconds(args.duration) > 40:
                                raise RuntimeError("a DPoP proof lasts 60 s: run this case with "
                                                   "--duration 40s or less")
                            h = headers.get(c.name, {})
                            threads = min(args.threads, conc)
                            dpop_script(script, env, h, 20000 * seconds(args.warmup), threads)
                            w = run_wrk(args, servers, url, script, args.warmup, conc)
                            want = int(w["rps"] * seconds(args.duration) * 1.5) + 2000
                            dpop_script(script, env, h, want, threads)
                            r = run_wrk(args, servers, url, script, args.duration, conc,
                                        servers.pid(c.target))
                        else:
                            lua_script(script, method, size, headers.get(c.name, {}),
                                       c.form_body)
                            run_wrk(args, servers, url, script, args.warmup, conc)
                            r = run_wrk(args, servers, url, script, args.duration, conc,
                                        servers.pid(c.target))
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        failed_cases[c.name] = str(e)[:200]
                        continue
                    r["round"] = rnd
                    runs[(load, c.name)].append(r)
                    print(f"round {rnd + 1} {load:13} {c.name:40} {r['rps']:10.0f} req/s "
                          f"p50 {r['p50']:7.2f} ms p99 {r['p99']:7.2f} ms "
                          f"CPU {r['cpu_us']:7.1f} µs/req RSS {r['rss_mib']:6.1f} MiB"
                          f"{' instr ' + format(r['kinstr'], '.1f') + ' k/req' if args.callgrind else ''}"
                          f"{'  ERRORS ' + str(r['errors']) if r['errors'] else ''}",
                          flush=True)
        base = next((c.name for c in cases if c.baseline), None)
        for (load, name), rs in runs.items():
            if name in failed_cases:
                results[load][name] = {"failed": failed_cases[name]}
            elif rs:
                res = {
                    "rps": statistics.median(r["rps"] for r in rs),
                    "p50": statistics.median(r["p50"] for r in rs),
                    "p99": statistics.median(r["p99"] for r in rs),
                    "cpu_us": statistics.median(r["cpu_us"] for r in rs),
                    "rss_mib": statistics.median(r["rss_mib"] for r in rs),
                    "kinstr": statistics.median(r["kinstr"] for r in rs),
                    "errors": sum(r["errors"] for r in rs),
                    "rounds": [{k: v for k, v in r.items() if k != "raw"} for r in rs],
                }
                # Ratios per round, against the baseline measured in the same round (minutes
                # apart at most), then the median: slow drift of a shared machine cancels out.
                # A case with `versus` is compared with that case instead.
                ref = next((c.versus for c in cases if c.name == name and c.versus), base)
                by_round = {r["round"]: r for r in runs.get((load, ref), [])}
                for key in ("rps", "p50", "p99", "cpu_us", "rss_mib", "kinstr"):
                    per = [r[key] / by_round[r["round"]][key] for r in rs
                           if r["round"] in by_round and by_round[r["round"]].get(key)]
                    if per:
                        res[f"ratio_{key}"] = statistics.median(per)
                results[load][name] = res
    finally:
        servers.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"bench: scratch kept in {work}")

    text = report(args, notes, results, cases)
    print()
    print(text)
    out = Path(args.out) if args.out else \
        ROOT / "bench" / "results" / time.strftime("%Y%m%d-%H%M%S.md", time.gmtime())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"notes": notes, "results": results},
                                                   indent=2))
    print(f"bench: report written to {out} (and {out.with_suffix('.json').name})")
    bad = any("failed" in r or r.get("errors") for load in results.values()
              for r in load.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
