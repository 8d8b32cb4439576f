//! Per-request costs of the OAuth2 checks: validating a JWT access token (RFC 9068, ES256) as a
//! secured API does, verifying a DPoP proof (RFC 9449) as a secured API does for a bound
//! token, and signing one as endpoint security does for each backend request.
//! Run: `cargo bench -p synaptic-oauth --bench oauth`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use std::sync::Arc;
use synaptic_oauth::client::{DpopAlgorithm, DpopKey, Secret};
use synaptic_oauth::server::dpop::{self, ProofExpect, ReplayCache};
use synaptic_oauth::server::jwt::{self, Expect, LoadedKey, SigningAlg};
use synaptic_oauth::server::{
    secret, AuthServer, Client, ClientCredentials, GrantType, ManualClock, MemoryStore, Settings,
    Store,
};

const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://gw.example";
const URL: &str = "https://gw.example/travels/1.0/bookings";

fn jwt_validation(c: &mut Criterion) {
    let key =
        LoadedKey::from_stored(&jwt::generate(SigningAlg::Es256, NOW, 86_400).unwrap()).unwrap();
    let token = key
        .sign(&json!({
            "iss": ISSUER, "sub": "alice", "aud": ISSUER, "client_id": "app",
            "scope": "view book", "iat": NOW, "nbf": NOW, "exp": NOW + 600,
            "jti": "g1.0123456789abcdef0123456789abcdef",
        }))
        .unwrap();
    let audiences = vec![ISSUER.to_string()];
    let expect = Expect {
        issuer: ISSUER,
        audiences: &audiences,
        now: NOW,
        at_jwt_typ: true,
    };
    assert!(jwt::verify(&token, &key.decoding, key.alg, &expect).is_ok());
    c.bench_function("jwt/validate ES256 access token", |b| {
        b.iter(|| jwt::verify(black_box(&token), &key.decoding, key.alg, &expect).unwrap())
    });
    c.bench_function("jwt/peek header and iss", |b| {
        b.iter(|| jwt::peek(black_box(&token)).unwrap())
    });
    // the other signing algorithms: verifying (what a secured API pays on a cache miss) and
    // signing (what the token endpoint pays per token)
    for alg in [SigningAlg::Rs256, SigningAlg::Ps256, SigningAlg::EdDsa] {
        let key = LoadedKey::from_stored(&jwt::generate(alg, NOW, 86_400).unwrap()).unwrap();
        let claims = json!({
            "iss": ISSUER, "sub": "alice", "aud": ISSUER, "client_id": "app",
            "scope": "view book", "iat": NOW, "nbf": NOW, "exp": NOW + 600,
            "jti": "g1.0123456789abcdef0123456789abcdef",
        });
        let token = key.sign(&claims).unwrap();
        assert!(jwt::verify(&token, &key.decoding, key.alg, &expect).is_ok());
        c.bench_function(
            &format!("jwt/validate {} access token", alg.as_str()),
            |b| b.iter(|| jwt::verify(black_box(&token), &key.decoding, key.alg, &expect).unwrap()),
        );
        c.bench_function(&format!("jwt/sign {} access token", alg.as_str()), |b| {
            b.iter(|| key.sign(black_box(&claims)).unwrap())
        });
    }
}

fn dpop_proofs(c: &mut Criterion) {
    let at = Secret::new("eyJhbGciOiJFUzI1NiJ9.an-access-token.signature");
    let htu = |u: &str| dpop::same_url(u, URL);
    for alg in [DpopAlgorithm::ES256, DpopAlgorithm::EdDSA] {
        let key = DpopKey::generate(alg).unwrap();
        let proof = key.proof("GET", URL, NOW, Some(&at), None).unwrap();
        let expect = ProofExpect {
            method: "GET",
            htu: &htu,
            access_token: Some(at.expose()),
            now: NOW,
            window: 60,
        };
        assert!(dpop::verify_proof(proof.expose(), &expect).is_ok());
        c.bench_function(&format!("dpop/verify {} proof with ath", alg.name()), |b| {
            b.iter(|| dpop::verify_proof(black_box(proof.expose()), &expect).unwrap())
        });
        c.bench_function(&format!("dpop/sign {} proof with ath", alg.name()), |b| {
            b.iter(|| {
                key.proof("GET", black_box(URL), NOW, Some(&at), None)
                    .unwrap()
            })
        });
    }
    let cache = ReplayCache::new(100_000);
    let mut n = 0u64;
    c.bench_function("dpop/replay cache check (fresh jti)", |b| {
        b.iter(|| {
            n += 1;
            let p = dpop::Proof {
                jkt: "thumbprint".into(),
                jti: n.to_string(),
                iat: NOW,
                nonce: None,
            };
            // entries expire at once, so the cache stays small and the figure is per check
            cache.check(black_box(&p), NOW, NOW)
        })
    });
}

/// A secured API's check of this server's JWT access token, first seen (signature verified,
/// then cached) and seen again (taken from the validated-token cache: hash of the token,
/// signing key present, audience, revocation).
fn jwt_server_validation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    let app = Client {
        id: "app".into(),
        name: "App".into(),
        secret_hash: Some(secret::hash_generated_secret("s")),
        grants: vec![GrantType::ClientCredentials],
        redirect_uris: Vec::new(),
        scopes: vec!["view".into(), "book".into()],
        token_lifetime: 3600,
        refresh_limit: 0,
        introspect_any: false,
    };
    rt.block_on(store.upsert_client(&app)).unwrap();
    let issuer = Arc::new(jwt::IssuerCell::new(Some(ISSUER.into())));
    let server = |cache: usize| {
        let s = AuthServer::new(
            store.clone(),
            Arc::new(ManualClock::new(NOW)),
            Settings {
                token_format: jwt::TokenFormat::Jwt,
                issuer: issuer.clone(),
                jwt_cache_entries: cache,
                ..Settings::default()
            },
        );
        rt.block_on(s.load_keys()).unwrap();
        s
    };
    let cached = server(10_000);
    let uncached = server(0);
    let pairs = vec![
        ("grant_type".to_string(), "client_credentials".to_string()),
        ("scope".to_string(), "view book".to_string()),
    ];
    let creds = ClientCredentials {
        id: "app".into(),
        secret: synaptic_oauth::server::Secret::new("s"),
    };
    let token = rt
        .block_on(cached.token(&pairs, Some(&creds)))
        .unwrap()
        .access_token;
    let token = token.expose().to_string();
    let audiences = vec![ISSUER.to_string(), format!("{ISSUER}/travels/1.0")];
    let kid = jwt::peek(&token).unwrap().0.kid;
    for (name, s) in [("uncached", &uncached), ("cached", &cached)] {
        assert!(rt
            .block_on(s.validate_jwt(&token, kid.as_deref(), &audiences))
            .unwrap()
            .is_some());
        c.bench_function(&format!("jwt/server validate ES256 token ({name})"), |b| {
            b.iter(|| {
                rt.block_on(s.validate_jwt(black_box(&token), kid.as_deref(), &audiences))
                    .unwrap()
                    .unwrap()
            })
        });
    }
    c.bench_function("jwt/cache hit (cached_jwt)", |b| {
        b.iter(|| cached.cached_jwt(black_box(&token), &audiences).unwrap())
    });
}

criterion_group!(benches, jwt_validation, jwt_server_validation, dpop_proofs);
criterion_main!(benches);
