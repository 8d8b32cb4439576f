//! The property map of one scope, as a small vector.
//!
//! A message carries a dozen or two properties per scope, most named by the engine or the
//! gateway (`REST_URL_POSTFIX`, `HTTP_METHOD`, `SYNAPSE_REST_API`, …) or by a mediator of the
//! configuration. Names are held as `&'static str` or a shared `Arc<str>`, so setting one of
//! those names allocates nothing, and cloning a map (a `clone`/`iterate` branch) copies no name.
//! One allocation holds the whole map instead of one node and one `String` per entry.
//!
//! Up to [`SMALL`] entries the vector is in the order the names were set: a lookup compares
//! lengths first (a string comparison only for a name of the same length), and a new name is
//! pushed at the end, with no entry moved. Past it the vector is sorted once and then kept
//! sorted (binary search), so a map with many names (a query string's parameters) costs no more
//! than a `BTreeMap`. Either way the names are listed in sorted order, as `BTreeMap` lists them
//! (logs and `synaptic run` list properties by name).

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use synaptic_expr::Value;

/// A property's name: static, or shared with the configuration that names it.
#[derive(Clone)]
pub enum PropName {
    Static(&'static str),
    Shared(Arc<str>),
}

impl PropName {
    pub fn as_str(&self) -> &str {
        match self {
            PropName::Static(s) => s,
            PropName::Shared(s) => s,
        }
    }
}

impl Deref for PropName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for PropName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for PropName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for PropName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for PropName {}

impl PartialEq<str> for PropName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for PropName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for PropName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for PropName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&'static str> for PropName {
    fn from(s: &'static str) -> Self {
        PropName::Static(s)
    }
}

impl From<String> for PropName {
    fn from(s: String) -> Self {
        PropName::Shared(Arc::from(s))
    }
}

impl From<&String> for PropName {
    fn from(s: &String) -> Self {
        PropName::Shared(Arc::from(s.as_str()))
    }
}

impl From<Arc<str>> for PropName {
    fn from(s: Arc<str>) -> Self {
        PropName::Shared(s)
    }
}

impl From<&Arc<str>> for PropName {
    fn from(s: &Arc<str>) -> Self {
        PropName::Shared(Arc::clone(s))
    }
}

/// The properties of one scope, by name.
#[derive(Clone, Default)]
pub struct PropMap {
    entries: Vec<(PropName, Value)>,
    /// The entries are sorted by name (always so past [`SMALL`] entries).
    sorted: bool,
}

/// The most entries kept in the order they were set.
const SMALL: usize = 24;

impl PropMap {
    pub const fn new() -> Self {
        PropMap {
            entries: Vec::new(),
            sorted: false,
        }
    }

    /// Room for `n` properties before the vector grows (a request's context starts with the
    /// dozen or so the gateway and a typical sequence set, without reallocating on the way).
    pub fn with_capacity(n: usize) -> Self {
        PropMap {
            entries: Vec::with_capacity(n),
            sorted: false,
        }
    }

    /// Where `name` is, or where it goes.
    fn find(&self, name: &str) -> Result<usize, usize> {
        if self.sorted {
            return self.entries.binary_search_by(|(k, _)| k.as_str().cmp(name));
        }
        // `==` on `str` compares the lengths before the bytes
        match self.entries.iter().position(|(k, _)| k.as_str() == name) {
            Some(i) => Ok(i),
            None => Err(self.entries.len()),
        }
    }

    /// Room for one more name at `at` (from [`PropMap::find`]): past [`SMALL`] entries the map
    /// turns sorted, and the place is found again.
    fn place(&mut self, name: &str, at: usize) -> usize {
        if self.sorted || self.entries.len() < SMALL {
            return at;
        }
        self.entries
            .sort_unstable_by(|(a, _), (b, _)| a.as_str().cmp(b.as_str()));
        self.sorted = true;
        match self.find(name) {
            Ok(i) | Err(i) => i,
        }
    }

    /// The entries' positions in the names' order.
    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        if !self.sorted {
            order.sort_unstable_by(|&a, &b| {
                self.entries[a].0.as_str().cmp(self.entries[b].0.as_str())
            });
        }
        order
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.find(name).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        match self.find(name) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Set `name` to `value`; the previous value, if there was one.
    pub fn insert(&mut self, name: impl Into<PropName>, value: Value) -> Option<Value> {
        let name = name.into();
        match self.find(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                if self.entries.capacity() == 0 {
                    self.entries.reserve(8);
                }
                let i = self.place(&name, i);
                self.entries.insert(i, (name, value));
                None
            }
        }
    }

    /// The value of `name`, set to `make()` first when there is none.
    pub fn get_or_insert_with(
        &mut self,
        name: impl Into<PropName>,
        make: impl FnOnce() -> Value,
    ) -> &mut Value {
        let name = name.into();
        let i = match self.find(&name) {
            Ok(i) => i,
            Err(i) => {
                let i = self.place(&name, i);
                self.entries.insert(i, (name, make()));
                i
            }
        };
        &mut self.entries[i].1
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        match self.find(name) {
            // the order of a small map is only the order names were set in
            Ok(i) if !self.sorted => Some(self.entries.swap_remove(i).1),
            Ok(i) => Some(self.entries.remove(i).1),
            Err(_) => None,
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// The values, in their names' order.
    pub fn values(&self) -> impl Iterator<Item = &Value> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Names and values, in the names' order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        self.order().into_iter().map(|i| {
            let (k, v) = &self.entries[i];
            (k.as_str(), v)
        })
    }

    /// Keep the properties for which `keep` answers true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k.as_str(), v));
    }
}

impl fmt::Debug for PropMap {
    /// Names only: values may be tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys()).finish()
    }
}

impl<K: Into<PropName>> FromIterator<(K, Value)> for PropMap {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut m = PropMap::new();
        m.extend(iter);
        m
    }
}

impl<K: Into<PropName>> Extend<(K, Value)> for PropMap {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for PropMap {
    type Item = (PropName, Value);
    type IntoIter = std::vec::IntoIter<(PropName, Value)>;
    /// Names and values, in the names' order.
    fn into_iter(mut self) -> Self::IntoIter {
        if !self.sorted {
            self.entries
                .sort_unstable_by(|(a, _), (b, _)| a.as_str().cmp(b.as_str()));
        }
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.to_string())
    }

    #[test]
    fn names_stay_sorted_and_unique_whatever_the_order_of_insertion() {
        let mut m = PropMap::new();
        for (k, v) in [("b", "1"), ("a", "2"), ("c", "3"), ("a", "4")] {
            m.insert(k, s(v));
        }
        m.insert(String::from("ab"), s("5"));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "ab", "b", "c"]);
        assert_eq!(m.get("a"), Some(&s("4")));
        assert_eq!(m.len(), 4);
        assert_eq!(m.insert("c", s("6")), Some(s("3")));
        assert_eq!(m.remove("b"), Some(s("1")));
        assert_eq!(m.remove("b"), None);
        assert!(!m.contains_key("b"));
        assert_eq!(
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.to_xpath_string()))
                .collect::<Vec<_>>(),
            ["a=4", "ab=5", "c=6"]
        );
    }

    #[test]
    fn get_or_insert_with_keeps_an_existing_value() {
        let mut m = PropMap::new();
        m.insert("q", s("first"));
        *m.get_or_insert_with("r", || s("new")) = s("set");
        m.get_or_insert_with("q", || s("second"));
        assert_eq!(m.get("q"), Some(&s("first")));
        assert_eq!(m.get("r"), Some(&s("set")));
    }

    #[test]
    fn shared_and_static_names_are_the_same_name() {
        let mut m = PropMap::new();
        let name: Arc<str> = Arc::from("uri.var.id");
        m.insert(&name, s("1"));
        m.insert("uri.var.id", s("2"));
        assert_eq!(m.len(), 1);
        assert_eq!(m.get("uri.var.id"), Some(&s("2")));
        m.retain(|k, _| k != "uri.var.id");
        assert!(m.is_empty());
    }

    #[test]
    fn a_map_past_the_small_size_turns_sorted_and_keeps_every_name() {
        let mut m = PropMap::new();
        // names of one length and of several, in no order
        let names: Vec<String> = (0..100)
            .map(|i| format!("query.param.{}", (i * 37) % 100))
            .collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(m.insert(n.clone(), s(&i.to_string())), None, "{n}");
            if i == SMALL - 1 {
                assert!(!m.sorted);
            }
        }
        assert!(m.sorted);
        assert_eq!(m.len(), 100);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(m.get(n), Some(&s(&i.to_string())), "{n}");
        }
        let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
        want.sort();
        assert_eq!(m.keys().collect::<Vec<_>>(), want);
        assert_eq!(
            m.remove("query.param.5"),
            Some(s(&names
                .iter()
                .position(|n| n == "query.param.5")
                .unwrap()
                .to_string()))
        );
        assert!(!m.contains_key("query.param.5"));
        assert_eq!(m.insert("a", s("first")), None);
        assert_eq!(m.keys().next(), Some("a"));
        let all: Vec<String> = m.into_iter().map(|(k, _)| k.to_string()).collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    }

    #[test]
    fn a_small_map_lists_its_names_sorted_after_a_removal() {
        let mut m = PropMap::new();
        for k in ["d", "b", "a", "c"] {
            m.insert(k, s(k));
        }
        m.remove("b");
        m.get_or_insert_with("e", || s("e"));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "c", "d", "e"]);
        assert_eq!(
            m.values().cloned().collect::<Vec<_>>(),
            [s("a"), s("c"), s("d"), s("e")]
        );
        assert_eq!(m.get("d"), Some(&s("d")));
        let all: Vec<String> = m.into_iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(all, ["a", "c", "d", "e"]);
    }

    #[test]
    fn debug_shows_names_not_values() {
        let mut m = PropMap::new();
        m.insert("token", s("secret-value"));
        let d = format!("{m:?}");
        assert!(d.contains("token") && !d.contains("secret-value"), "{d}");
    }
}
