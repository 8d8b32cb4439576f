//! Per-request costs of the OAuth2 checks: validating a JWT access token (RFC 9068, ES256) as a
//! secured API does, verifying a DPoP proof (RFC 9449) as a secured API does for a bound
//! token, and signing one as endpoint security does for each backend request.
//! Run: `cargo bench -p synaptic-oauth --bench oauth`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use synaptic_oauth::client::{DpopAlgorithm, DpopKey, Secret};
use synaptic_oauth::server::dpop::{self, ProofExpect, ReplayCache};
use synaptic_oauth::server::jwt::{self, Expect, LoadedKey, SigningAlg};

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
            };
            // entries expire at once, so the cache stays small and the figure is per check
            cache.check(black_box(&p), NOW, NOW)
        })
    });
}

criterion_group!(benches, jwt_validation, dpop_proofs);
criterion_main!(benches);
