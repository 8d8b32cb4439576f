//! Deploy-time parameters, as Synapse's resolvers read them when an artifact is deployed: an
//! attribute whose value starts with `$SYSTEM:NAME` (an environment variable), `$FILE:KEY` (a
//! key of the deployment's properties file) or `${configs.NAME}` (a configurable) takes that
//! parameter's value. The parameter is the whole value: whatever follows it is dropped, as
//! Synapse drops it.

use crate::Configurables;

/// Where a parameter's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// `${configs.NAME}`
    Configs,
    /// `$SYSTEM:NAME`
    System,
    /// `$FILE:KEY`
    File,
}

/// A deploy-time parameter found at the start of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeployParam<'a> {
    pub kind: ParamKind,
    pub name: &'a str,
    /// The parameter as written (`$SYSTEM:NAME`).
    pub written: &'a str,
    /// What follows it (dropped).
    pub rest: &'a str,
}

/// The deploy-time parameter `text` (trimmed) starts with: `None` when it starts with none,
/// `Some(Err(why))` when it starts like one but is not well formed.
pub fn deploy_param(text: &str) -> Option<Result<DeployParam<'_>, String>> {
    let text = text.trim();
    let (kind, prefix) = [
        (ParamKind::Configs, "${configs."),
        (ParamKind::System, "$SYSTEM:"),
        (ParamKind::File, "$FILE:"),
    ]
    .into_iter()
    .find(|(_, p)| text.starts_with(p))?;
    let rest = &text[prefix.len()..];
    let n = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let name = &rest[..n];
    let mut end = prefix.len() + n;
    if kind == ParamKind::Configs {
        if !rest[n..].starts_with('}') {
            end = 0;
        }
        end += 1;
    }
    if name.is_empty() || end <= prefix.len() {
        return Some(Err(format!(
            "`{text}` is not a deploy-time parameter: write $SYSTEM:NAME, $FILE:KEY or \
             ${{configs.NAME}}"
        )));
    }
    Some(Ok(DeployParam {
        kind,
        name,
        written: &text[..end],
        rest: &text[end..],
    }))
}

impl DeployParam<'_> {
    /// The parameter's value from `values`; `Err` says what is missing.
    pub fn resolve(&self, values: &dyn Configurables) -> Result<String, String> {
        let (value, missing) = match self.kind {
            ParamKind::Configs => (values.config(self.name), "the configurable"),
            ParamKind::System => (values.env(self.name), "the environment variable"),
            ParamKind::File => (values.file_property(self.name), "the properties file's key"),
        };
        value.ok_or_else(|| format!("`{}`: {missing} `{}` has no value", self.written, self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Host;
    impl Configurables for Host {
        fn config(&self, name: &str) -> Option<String> {
            (name == "backend").then(|| "http://cfg:1".into())
        }
        fn secret(&self, _: &str) -> Option<String> {
            None
        }
        fn env(&self, name: &str) -> Option<String> {
            (name == "EP").then(|| "http://env:2".into())
        }
        fn file_property(&self, key: &str) -> Option<String> {
            (key == "ep_url").then(|| "http://file:3".into())
        }
    }

    #[test]
    fn parameters_are_read_as_synapse_reads_them() {
        let p = |t: &str| deploy_param(t).map(|r| r.map(|p| p.resolve(&Host)));
        assert_eq!(p("http://x/y"), None);
        assert_eq!(p("$url"), None);
        assert_eq!(p("{uri.var.x}"), None);
        assert_eq!(p("$SYSTEM:EP"), Some(Ok(Ok("http://env:2".into()))));
        assert_eq!(
            p(" ${configs.backend} "),
            Some(Ok(Ok("http://cfg:1".into())))
        );
        assert_eq!(p("$FILE:ep_url"), Some(Ok(Ok("http://file:3".into()))));
        // a key stops at the first character that is not a letter, digit or `_`
        let dotted = deploy_param("$FILE:ep.url").unwrap().unwrap();
        assert_eq!((dotted.name, dotted.rest), ("ep", ".url"));
        // the rest of the value is dropped, as Synapse drops it
        let suffixed = deploy_param("$SYSTEM:EP/orders").unwrap().unwrap();
        assert_eq!((suffixed.written, suffixed.rest), ("$SYSTEM:EP", "/orders"));
        assert_eq!(suffixed.resolve(&Host), Ok("http://env:2".into()));
        assert_eq!(
            p("$SYSTEM:NOPE"),
            Some(Ok(Err(
                "`$SYSTEM:NOPE`: the environment variable `NOPE` has no value".into()
            )))
        );
        assert!(matches!(p("$SYSTEM:"), Some(Err(_))));
        assert!(matches!(p("${configs.x"), Some(Err(_))));
        assert!(matches!(p("${configs.}"), Some(Err(_))));
    }
}
