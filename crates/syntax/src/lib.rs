//! Synapse XML artifacts → a typed tree ([`ast`]) with a span on every element and attribute.
//!
//! Architecture Invariant: parsing never fails and never panics. It returns the tree it could
//! build plus every diagnostic found (structural checks only: expressions are checked by
//! `engine::compile`).
//!
//! Two phases: `xml` reads quick-xml events into a small element tree (well-formedness, entities,
//! namespaces, depth limit), then `parse` maps that tree onto the typed AST (unknown elements and
//! attributes, required attributes, attribute values, unsupported mediators). A malformed document
//! gives one E0101 at the error position; the structure built before it is still checked.

mod artifact;
pub mod ast;
mod db;
mod endpoint;
mod mediators;
pub mod members;
mod parse;
mod ser;
mod store;
pub mod unit_test;
pub mod wsdl;
mod xml;
pub mod xsd;

#[cfg(test)]
mod tests;

use synaptic_diag::{Diagnostic, SourceId};

/// The Synapse configuration namespace.
pub const SYNAPSE_NS: &str = "http://ws.apache.org/ns/synapse";

/// Elements nested deeper than this are refused (E0113).
pub const MAX_DEPTH: usize = xml::MAX_DEPTH;

/// A tree plus the diagnostics found while building it.
#[derive(Clone, Debug)]
pub struct Parse<T> {
    pub tree: T,
    pub diagnostics: Vec<Diagnostic>,
}

impl<T> Parse<T> {
    /// True when no diagnostic is an error.
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parse one file: a `<sequence>`, or a `<definitions>`/`<api>`/`<proxy>`/`<template>`/
/// `<localEntry>`/`<endpoint>` root.
pub fn parse_artifact(source: SourceId, text: &str) -> Parse<ast::Artifact> {
    let (doc, mut diagnostics) = xml::read(source, text);
    let (tree, more) = artifact::artifact(source, &doc);
    diagnostics.extend(more);
    synaptic_diag::sort(&mut diagnostics);
    Parse { tree, diagnostics }
}
