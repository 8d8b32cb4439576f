//! Tokens for OAuth2-protected backends (native endpoint security), without I/O: the token
//! HTTP call, the shared (L2) store and the clock come in through the traits in [`io`].
//!
//! * [`spec`]: what a token is requested with, the cache key (token URL, client, grant, scope,
//!   username, extra parameters, auth method, SHA-256 of the credentials) and URL-encoded form
//!   requests (`client_secret_basic` per RFC 6749 §2.3.1, `client_secret_post`, the JWT
//!   assertions of RFC 7523, or `tls_client_auth` of RFC 8705), and token exchange (RFC 8693).
//! * [`response`]: robust token-response parsing.
//! * [`manager`]: the cache, single flight, refresh-ahead, invalidation after a backend 401,
//!   backoff and the distributed lease lock.
//! * [`secret`]: secret wrappers whose `Debug` prints `"…"`.
//! * [`assertion`]: signed client authentication (`client_secret_jwt`, `private_key_jwt`).
//! * [`dpop`]: DPoP proofs (RFC 9449) for token requests and backend requests, and nonces.

pub mod assertion;
pub mod backoff;
pub mod dpop;
pub mod io;
pub mod manager;
pub mod response;
pub mod secret;
pub mod spec;

#[cfg(test)]
mod manager_tests;

pub use assertion::{KeyError, PrivateKey, SigningAlgorithm};
pub use dpop::{Dpop, DpopAlgorithm, DpopKey};
pub use io::{
    Clock, MemoryStore, StoreError, StoredToken, SystemClock, TokenHttp, TokenStore, TokioClock,
    TransportError,
};
pub use manager::{
    AccessToken, Event, NoopObserver, Observer, Options, TokenError, TokenHandle, TokenManager,
};
pub use response::{parse_token_response, FetchFailure, ParsedToken, TokenHttpResponse};
pub use secret::{fingerprint, KeyBytes, Secret};
pub use spec::{
    CacheKey, ClientAuth, ClientIdentity, ClientSpec, Grant, TokenExchange, TokenHttpRequest,
    Variant,
};
