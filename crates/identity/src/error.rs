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
    /// A setting of a table that is not a connector, such as
    /// `[identity.rotation]`.
    #[error("[identity.{table}]: invalid {field} {value:?}: {reason}")]
    InvalidSetting { table: &'static str, field: &'static str, value: String, reason: String },
    /// A table that works through another one that is missing.
    #[error("[identity.{table}] needs the [identity.{needs}] table: {reason}; add it")]
    MissingTable { table: String, needs: String, reason: String },
}
