use super::*;

fn check(text: &str, expect: &str) {
    let mut map = SourceMap::new();
    let id = map.add("synaptic.toml", text);
    let got = match from_str(id, text, PathBuf::from("/base")) {
        Ok(_) => "ok".to_string(),
        Err(diags) => diags
            .iter()
            .map(|d| synaptic_diag::render::short(&map, d))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    assert_eq!(got.trim(), expect.trim(), "config:\n{text}");
}

#[test]
fn minimal_and_defaults() {
    check("", "ok");
    let mut map = SourceMap::new();
    let text = "[server]\nlisten = \"127.0.0.1:9\"\n[[api]]\nname = \"A\"\ncontext = \"/a\"\nendpoint = \"http://127.0.0.1:1/x\"\ntimeout = 2\n";
    let id = map.add("t", text);
    let c = from_str(id, text, PathBuf::from("/base")).unwrap();
    assert_eq!(c.server.max_body_size, 10 * 1024 * 1024);
    assert_eq!(c.api_timeout(&c.api[0]), Duration::from_secs(2));
    assert_eq!(c.sequences_dir(), PathBuf::from("/base/sequences"));
    assert_eq!(c.resolve_path("/abs"), PathBuf::from("/abs"));
}

#[test]
fn syntax_and_schema_errors_are_e0401_with_positions() {
    check(
        "[server]\nlisten = \n",
        "synaptic.toml:2:10: error[E0401]: string values must be quoted, expected literal string",
    );
    check(
        "[server]\nlisen = \"x\"\n",
        "synaptic.toml:2:1: error[E0401]: unknown field `lisen`, expected one of `listen`, `sequences`, `registry`, `max_body_size`, `timeout`, `ca_file`, `pool_max_idle_per_host`, `pool_idle_timeout`, `watch`, `shutdown_grace`, `access_log`, `listen_tls`, `tls`, `file_properties`, `name`",
    );
    check(
        "[[api]]\nname = \"A\"\n",
        "synaptic.toml:1:1: error[E0401]: missing field `context`",
    );
}

#[test]
fn invalid_values_are_e0402_at_the_value() {
    check(
        r#"
[server]
listen = "nowhere"

[[api]]
name = "A"
context = "pizza"
endpoint = "ftp://x"

[[api]]
name = "A"
context = "/b//c"
timeout = -1
security = "basic"

[[api.resource]]
methods = ["G ET"]
uri_template = "/x/{a b}"
"#,
        r#"
synaptic.toml:3:10: error[E0402]: listen address "nowhere" is not IP:PORT
synaptic.toml:7:11: error[E0402]: context must start with `/`
synaptic.toml:8:12: error[E0402]: invalid endpoint "ftp://x": the scheme must be http or https
synaptic.toml:11:8: error[E0402]: duplicate API name "A"
synaptic.toml:12:11: error[E0402]: context "/b//c" is not in normal form (use "/b/c")
synaptic.toml:13:11: error[E0402]: timeout must be a positive number of seconds
synaptic.toml:14:12: error[E0402]: unknown security "basic" (expected "oauth2" or "none")
synaptic.toml:17:11: error[E0402]: invalid HTTP method "G ET"
synaptic.toml:18:16: error[E0402]: invalid uri_template: invalid variable name "a b"
"#,
    );
}

#[test]
fn oauth2_security_needs_the_auth_server() {
    check(
        "[[api]]\nname = \"A\"\ncontext = \"/a\"\nsecurity = \"oauth2\"\n",
        "synaptic.toml:4:12: error[E0402]: security = \"oauth2\" needs `[auth_server] enabled = true` or a `[[auth_server.trusted_issuer]]`",
    );
    check(
        "[auth_server]\nenabled = true\n[[api]]\nname = \"A\"\ncontext = \"/a\"\nsecurity = \"oauth2\"\n",
        "ok",
    );
    // trusted issuers enforce secured APIs without the gateway's own endpoints
    check(
        "[auth_server]\nenabled = false\n[[auth_server.trusted_issuer]]\nissuer = \"https://as.test\"\njwks_uri = \"https://as.test/jwks\"\n[[api]]\nname = \"A\"\ncontext = \"/a\"\nsecurity = \"oauth2\"\n",
        "ok",
    );
    check(
        "[auth_server]\n[[auth_server.trusted_issuer]]\nissuer = \"https://as.test\"\njwks_uri = \"ftp://as.test/jwks\"\n",
        "synaptic.toml:4:12: error[E0402]: jwks_uri \"ftp://as.test/jwks\" is not an http(s) URL",
    );
}

#[test]
fn telemetry_mistakes_point_at_the_key() {
    check(
        "[telemetry]\notlp_endpoint = \"127.0.0.1:4317\"\nsampling_ratio = 2\n",
        "synaptic.toml:2:17: error[E0402]: otlp_endpoint must be an http:// or https:// URL (`http://127.0.0.1:4317`)\n\
         synaptic.toml:3:18: error[E0402]: sampling_ratio must be between 0.0 and 1.0",
    );
    check(
        "[telemetry]\notlp_protocol = \"udp\"\n",
        "synaptic.toml:2:17: error[E0401]: unknown variant `udp`, expected `grpc` or `http/protobuf`",
    );
}
