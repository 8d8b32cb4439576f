//! The workspace's integration tests, one module per area, in one test binary. Run one area with
//! `cargo nextest run -p synaptic-tests -E 'test(/^e2e_tls::/)'` (or `cargo test -p synaptic-tests
//! --test all e2e_tls::`).

mod cli;
mod conformance;
mod corpus;
mod e2e;
mod e2e_authserver;
mod e2e_authserver_jwt;
mod e2e_backend_auth;
mod e2e_callout;
mod e2e_client_auth;
mod e2e_configs;
mod e2e_cors;
mod e2e_db;
mod e2e_db_tls;
mod e2e_dpop;
mod e2e_eip;
mod e2e_endpoints;
mod e2e_foreach;
mod e2e_grpc;
mod e2e_hardening;
mod e2e_pipeline;
mod e2e_projects;
mod e2e_store;
mod e2e_telemetry;
mod e2e_throttle_cache;
mod e2e_tls;
mod e2e_unit_test;
mod golden;
mod reference_sequences;
mod support_selftest;
