//! `[log]`: how `synaptic serve` writes its log — text or one JSON object per line, the level
//! per target, and where the access log goes. The binary installs the subscriber; this is the
//! configuration it reads.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `[log]`
#[derive(Clone, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `"text"` (default) or `"json"`: one JSON object per line with the same fields.
    #[serde(default)]
    pub format: LogFormat,
    /// The level of every target not named in `targets` (default `info`).
    #[serde(default)]
    pub level: LogLevel,
    /// Level per target, e.g. `{ "synaptic::wire" = "info", "synaptic::reload" = "warn" }`.
    #[serde(default)]
    pub targets: BTreeMap<String, LogLevel>,
    /// Where access-log lines go: `"stderr"` (default, with the other lines), `"stdout"`, or a
    /// file path (appended to; relative to the configuration file's folder).
    #[serde(default)]
    pub access_log: AccessLogTarget,
}

/// `[log] format`
#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A level name as `SYNAPTIC_LOG` takes it.
#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Off,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Off => "off",
        }
    }
}

/// `[log] access_log`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AccessLogTarget {
    #[default]
    Stderr,
    Stdout,
    File(String),
}

impl<'de> Deserialize<'de> for AccessLogTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "stderr" => AccessLogTarget::Stderr,
            "stdout" => AccessLogTarget::Stdout,
            "" => {
                return Err(serde::de::Error::custom(
                    "access_log must be \"stderr\", \"stdout\" or a file path",
                ))
            }
            _ => AccessLogTarget::File(s),
        })
    }
}

impl LogConfig {
    /// The `EnvFilter` directives this configuration stands for (`SYNAPTIC_LOG` overrides
    /// them); `wire` turns the wire log on unless a target entry says otherwise.
    pub fn directives(&self, wire: bool) -> String {
        let mut out = self.level.as_str().to_string();
        if wire && !self.targets.contains_key("synaptic::wire") {
            let lvl = match self.level {
                LogLevel::Trace | LogLevel::Debug => self.level.as_str(),
                _ => "info",
            };
            out.push_str(",synaptic::wire=");
            out.push_str(lvl);
        }
        for (target, level) in &self.targets {
            out.push(',');
            out.push_str(target);
            out.push('=');
            out.push_str(level.as_str());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LogConfig, String> {
        #[derive(Deserialize)]
        struct W {
            log: LogConfig,
        }
        toml::from_str::<W>(text)
            .map(|w| w.log)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_text_info_stderr() {
        let c = parse("[log]\n").unwrap();
        assert_eq!(c, LogConfig::default());
        assert_eq!(c.directives(false), "info");
        assert_eq!(c.directives(true), "info,synaptic::wire=info");
    }

    #[test]
    fn levels_per_target_and_destinations() {
        let c = parse(
            "[log]\nformat = \"json\"\nlevel = \"warn\"\naccess_log = \"logs/access.log\"\n\
             targets = { \"synaptic::reload\" = \"debug\", \"synaptic::wire\" = \"off\" }\n",
        )
        .unwrap();
        assert_eq!(c.format, LogFormat::Json);
        assert_eq!(
            c.access_log,
            AccessLogTarget::File("logs/access.log".into())
        );
        assert_eq!(
            c.directives(true),
            "warn,synaptic::reload=debug,synaptic::wire=off"
        );
        assert_eq!(
            parse("[log]\naccess_log = \"stdout\"\n")
                .unwrap()
                .access_log,
            AccessLogTarget::Stdout
        );
    }

    #[test]
    fn unknown_values_are_errors() {
        assert!(parse("[log]\nformat = \"xml\"\n")
            .unwrap_err()
            .contains("xml"));
        assert!(parse("[log]\nlevel = \"loud\"\n")
            .unwrap_err()
            .contains("loud"));
        assert!(parse("[log]\naccess_log = \"\"\n").is_err());
        assert!(parse("[log]\ncolour = true\n").is_err());
    }
}
