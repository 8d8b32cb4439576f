//! The gateway's own authorization server in a test's `synaptic.toml`: the `[auth_server]`
//! table, its scopes and clients, a gateway trusting another issuer's tokens, and the
//! `TimeTravels` API its tokens secure. Each function returns TOML text to join with the rest
//! of a configuration.

/// `[auth_server]` enabled, its store at `data/auth.db`, followed by `extra` lines of the table.
pub fn enabled(extra: &str) -> String {
    format!("\n[auth_server]\nenabled = true\nstore = \"data/auth.db\"\n{extra}\n")
}

/// An `[[auth_server.scope]]` for each of `names`.
pub fn scopes(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("\n[[auth_server.scope]]\nname = \"{name}\"\n"))
        .collect()
}

/// A confidential client with the client-credentials grant alone, allowed `scopes` (no
/// `scopes` line when there are none), and `extra` lines (`token_lifetime = …`).
pub fn cc_client(id: &str, secret: &str, scopes: &[&str], extra: &str) -> String {
    let scopes = if scopes.is_empty() {
        String::new()
    } else {
        format!("scopes = {scopes:?}\n")
    };
    format!(
        "\n[[auth_server.client]]\nid = \"{id}\"\nsecret = \"{secret}\"\n\
         grants = [\"client_credentials\"]\n{scopes}{extra}\n"
    )
}

/// The authorization server ([`enabled`], `extra` lines in its table) with these scopes and
/// one client-credentials client, `id`, allowed all of them.
pub fn with_client(extra: &str, id: &str, secret: &str, names: &[&str]) -> String {
    enabled(extra) + &scopes(names) + &cc_client(id, secret, names, "")
}

/// `[auth_server]` disabled, trusting the JWT access tokens of `issuer` checked with the keys
/// at `jwks`; `extra` lines of the trusted issuer (`audience = …`).
pub fn trusting(issuer: &str, jwks: &str, extra: &str) -> String {
    format!(
        "\n[auth_server]\nenabled = false\n\n[[auth_server.trusted_issuer]]\n\
         issuer = \"{issuer}\"\njwks_uri = \"{jwks}\"\n{extra}\n"
    )
}

/// The API `TimeTravels` at `/travels/1.0` in front of `backend`, secured by OAuth2 tokens,
/// with an `[[api.resource]]` for each `(method, uri template, scope)` of `resources`.
pub fn time_travels(backend: &str, resources: &[(&str, &str, &str)]) -> String {
    let mut s = format!(
        "\n[[api]]\nname = \"TimeTravels\"\ncontext = \"/travels/1.0\"\n\
         endpoint = \"{backend}\"\nsecurity = \"oauth2\"\n"
    );
    for (method, template, scope) in resources {
        s.push_str(&format!(
            "\n[[api.resource]]\nmethods = [\"{method}\"]\nuri_template = \"{template}\"\n\
             scopes = [\"{scope}\"]\n"
        ));
    }
    s
}
