//! Synapse XML artifacts → a typed tree ([`ast`]) with a span on every element and attribute.
//!
//! Architecture Invariant: parsing never fails and never panics. It returns the tree it could
//! build plus every diagnostic found (structural checks only: expressions are checked by
//! `engine::compile`).

pub mod ast;

use synaptic_diag::{Diagnostic, SourceId};

/// A tree plus the diagnostics found while building it.
#[derive(Clone, Debug)]
pub struct Parse<T> {
    pub tree: T,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parse one file: a `<sequence>`, or a `<definitions>`/`<api>`/`<proxy>`/`<template>` root.
pub fn parse_artifact(source: SourceId, text: &str) -> Parse<ast::Artifact> {
    let _ = (source, text);
    unimplemented!("synaptic-syntax: parser under construction")
}
