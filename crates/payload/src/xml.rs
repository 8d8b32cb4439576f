//! A small owned XML DOM (quick-xml based), `Send + Sync`.

/// A qualified name: namespace URI (empty for none), prefix as written, local name.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QName {
    pub ns: String,
    pub prefix: String,
    pub local: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: QName,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
    Comment(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Element {
    pub name: QName,
    pub attributes: Vec<Attribute>,
    /// Namespace declarations written on this element (`prefix`, `uri`; `""` = default).
    pub namespaces: Vec<(String, String)>,
    pub children: Vec<Node>,
}
