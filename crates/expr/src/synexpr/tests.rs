//! Unit tests of Synapse Expressions against an in-memory environment.
