//! The registry the gateway gives the engine: the file registry rooted at `[server] registry`
//! (created when missing). Sequences that cache tokens there (`simple-token-gen`) keep them
//! across restarts.

use std::path::Path;
use std::sync::Arc;
use synaptic_registry::{FileRegistry, Registry, RegistryError};

/// Open the registry rooted at `root`.
pub fn open(root: &Path) -> Result<Arc<dyn Registry>, RegistryError> {
    Ok(Arc::new(FileRegistry::open(root)?))
}
