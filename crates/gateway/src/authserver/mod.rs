//! The gateway as an OAuth2 authorization server for its own APIs.

pub mod config;
