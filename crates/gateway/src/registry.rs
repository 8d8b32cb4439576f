//! The registry the gateway gives the engine: the file registry rooted at `[server] registry`.

use std::path::Path;
use std::sync::Arc;
use synaptic_registry::Registry;

/// Open the registry rooted at `root`.
pub fn open(root: &Path) -> Arc<dyn Registry> {
    // TODO(H-gateway): switch to synaptic_registry::FileRegistry when it lands.
    let _ = root;
    Arc::new(MemRegistry::default())
}

#[derive(Debug, Default)]
struct MemRegistry {
    map: std::sync::RwLock<std::collections::HashMap<String, String>>,
}

#[async_trait::async_trait]
impl Registry for MemRegistry {
    async fn get(&self, key: &str) -> Result<Option<String>, synaptic_registry::RegistryError> {
        Ok(self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }
    async fn put(&self, key: &str, value: &str) -> Result<(), synaptic_registry::RegistryError> {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), value.to_string());
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), synaptic_registry::RegistryError> {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        Ok(())
    }
}
