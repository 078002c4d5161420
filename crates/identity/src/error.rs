//! Errors that keep a connector or an import from being built.

/// Invalid connector configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("connector {connector:?}: invalid {field} {value:?}: {reason}")]
    InvalidValue { connector: String, field: &'static str, value: String, reason: String },
    #[error("connector {connector:?}: cannot read {field}: {reason}")]
    Secret { connector: String, field: String, reason: String },
    #[error("connector {connector:?}: failed to build the HTTP client: {reason}")]
    Client { connector: String, reason: String },
}
