//! The authorization server.
