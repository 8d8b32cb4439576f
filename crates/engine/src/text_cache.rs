//! Artifacts read from the registry when a message first needs them and compiled then (the
//! sequences a `<sequence key>` names, the endpoints an `<endpoint key>` names, the schemas of
//! `<validate>`): each kept with the
//! text (or texts) it was compiled from, so a resource that changes is compiled again and one
//! that does not is compiled once. Bounded: at most [`MAX_ENTRIES`] keys per cache (a full
//! cache starts afresh).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Keys one cache keeps at most.
pub(crate) const MAX_ENTRIES: usize = 256;

/// `K`: what a value is compiled from (one text, or several for a schema set).
#[derive(Debug)]
pub(crate) struct TextCache<T, K = String> {
    entries: Mutex<HashMap<String, (K, Arc<T>)>>,
}

impl<T, K> Default for TextCache<T, K> {
    fn default() -> Self {
        TextCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T, K> TextCache<T, K> {
    /// What `key` was last compiled to, whatever its text is now.
    pub(crate) fn peek(&self, key: &str) -> Option<Arc<T>> {
        let guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        guard.get(key).map(|(_, v)| v.clone())
    }
}

impl<T, K> TextCache<T, K> {
    /// Every key with what it is compiled to now, in the keys' order.
    pub(crate) fn entries(&self) -> Vec<(String, Arc<T>)> {
        let guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(String, Arc<T>)> = guard
            .iter()
            .map(|(k, (_, v))| (k.clone(), v.clone()))
            .collect();
        drop(guard);
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

impl<T, K: PartialEq> TextCache<T, K> {
    /// What `key`'s `text` compiles to: the cached value when it was compiled from this very
    /// text, else `compile(text)`, kept when `keep` (an error is never kept).
    pub(crate) fn get_or_compile<E>(
        &self,
        key: &str,
        text: K,
        keep: bool,
        compile: impl FnOnce(&K) -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        if keep {
            let guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((t, v)) = guard.get(key) {
                if *t == text {
                    return Ok(v.clone());
                }
            }
        }
        // compiled outside the lock: another message may compile the same text meanwhile
        let v = Arc::new(compile(&text)?);
        if keep {
            let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if guard.len() >= MAX_ENTRIES && !guard.contains_key(key) {
                guard.clear();
            }
            guard.insert(key.to_string(), (text, v.clone()));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn compiled_once_per_text_again_when_the_text_changes_errors_not_kept() {
        let cache: TextCache<usize> = TextCache::default();
        let runs = Cell::new(0);
        let compile = |t: &String| -> Result<usize, String> {
            runs.set(runs.get() + 1);
            if t == "bad" {
                Err("bad".into())
            } else {
                Ok(t.len())
            }
        };
        assert_eq!(
            *cache
                .get_or_compile("k", "abc".into(), true, compile)
                .unwrap(),
            3
        );
        assert_eq!(
            *cache
                .get_or_compile("k", "abc".into(), true, compile)
                .unwrap(),
            3
        );
        assert_eq!(runs.get(), 1);
        assert_eq!(
            *cache
                .get_or_compile("k", "abcd".into(), true, compile)
                .unwrap(),
            4
        );
        assert_eq!(runs.get(), 2);
        assert!(cache
            .get_or_compile("k", "bad".into(), true, compile)
            .is_err());
        assert!(cache
            .get_or_compile("k", "bad".into(), true, compile)
            .is_err());
        assert_eq!(runs.get(), 4);
        // not kept: compiled every time
        cache
            .get_or_compile("n", "x".into(), false, compile)
            .unwrap();
        cache
            .get_or_compile("n", "x".into(), false, compile)
            .unwrap();
        assert_eq!(runs.get(), 6);
    }

    #[test]
    fn a_full_cache_starts_afresh() {
        let cache: TextCache<usize> = TextCache::default();
        for i in 0..MAX_ENTRIES + 1 {
            cache
                .get_or_compile(&i.to_string(), "t".into(), true, |t| Ok::<_, ()>(t.len()))
                .unwrap();
        }
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
    }
}
