//! Credentials read from the environment or a file. Their `Debug` form never
//! shows the value, so that a logged config or error cannot leak them.

use phishloop_response::SecretSource;

use crate::error::ConfigError;

/// A credential value: a client secret, an API token, a bind password.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a value obtained at run time, such as an access token.
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Returns the value, for the one place that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// Reads a secret for the connector `connector`, setting `field`.
///
/// # Errors
///
/// Returns [`ConfigError::Secret`] when the variable is unset, the file
/// cannot be read, or the value is empty.
pub(crate) fn read_secret(connector: &str, field: &str, source: &SecretSource) -> Result<Secret, ConfigError> {
    let fail =
        |reason: String| ConfigError::Secret { connector: connector.to_string(), field: field.to_string(), reason };
    let value = match source {
        SecretSource::Env(variable) => std::env::var(variable)
            .map_err(|_| fail(format!("environment variable {variable} is not set or not valid UTF-8; set it")))?,
        SecretSource::File(path) => std::fs::read_to_string(path).map_err(|error| {
            fail(format!("failed to read {}: {error}; check the path and permissions", path.display()))
        })?,
    };
    let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value);
    if value.is_empty() {
        return Err(fail("the value is empty; store the credential there".to_string()));
    }
    Ok(Secret(value.to_string()))
}
