//! An in-memory registry for tests and for the engine's unit-level goldens.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use async_trait::async_trait;

use crate::{Key, Registry, RegistryError, Space};

/// A resource: optional content plus properties.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resource {
    pub content: Option<String>,
    pub props: BTreeMap<String, String>,
}

impl Resource {
    pub fn is_empty(&self) -> bool {
        self.content.is_none() && self.props.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct MemoryRegistry {
    map: RwLock<HashMap<(Space, String), Resource>>,
}

impl MemoryRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored value as `(key, value)`, sorted (content keys and `@prop` keys), for test
    /// assertions on registry writes.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for ((space, path), r) in map.iter() {
            let key = Key {
                space: *space,
                path: path.clone(),
                prop: None,
            };
            if let Some(c) = &r.content {
                out.push((key.to_string(), c.clone()));
            }
            for (p, v) in &r.props {
                out.push((format!("{key}@{p}"), v.clone()));
            }
        }
        out.sort();
        out
    }
}

impl MemoryRegistry {
    fn read(&self, key: &str) -> Result<Option<String>, RegistryError> {
        let k = Key::parse(key)?;
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let Some(r) = map.get(&(k.space, k.path)) else {
            return Ok(None);
        };
        Ok(match &k.prop {
            Some(p) => r.props.get(p).cloned(),
            None => r.content.clone(),
        })
    }
}

#[async_trait]
impl Registry for MemoryRegistry {
    fn get_now(&self, key: &str) -> Option<Result<Option<String>, RegistryError>> {
        Some(self.read(key))
    }

    async fn get(&self, key: &str) -> Result<Option<String>, RegistryError> {
        self.read(key)
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), RegistryError> {
        let k = Key::parse(key)?;
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let r = map.entry((k.space, k.path)).or_default();
        match k.prop {
            Some(p) => {
                r.props.insert(p, value.to_string());
            }
            None => r.content = Some(value.to_string()),
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), RegistryError> {
        let k = Key::parse(key)?;
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let id = (k.space, k.path);
        match k.prop {
            Some(p) => {
                if let Some(r) = map.get_mut(&id) {
                    r.props.remove(&p);
                    if r.is_empty() {
                        map.remove(&id);
                    }
                }
            }
            None => {
                map.remove(&id);
            }
        }
        Ok(())
    }
}
