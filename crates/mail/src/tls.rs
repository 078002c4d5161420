//! rustls client configuration for IMAP, with the aws-lc-rs provider.
//!
//! A server is trusted through the system's root certificates, or through
//! the certificates of a configured `ca_file` alone, so a test or private
//! server with its own CA needs no change to the system store.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::config::ConfigError;

/// Builds the client configuration for one server section. `field` names
/// the section in errors.
///
/// # Errors
///
/// [`ConfigError::CaFile`] when `ca_file` cannot be read or contains no
/// usable certificate, or when the system has no root certificates at all.
pub(crate) fn client_config(field: &str, ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    let roots = match ca_file {
        Some(path) => roots_from_file(field, path)?,
        None => system_roots(field)?,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ca_error(field, Path::new("(none)"), &error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn roots_from_file(field: &str, path: &Path) -> Result<RootCertStore, ConfigError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| ca_error(field, path, &error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ca_error(field, path, &error.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(ca_error(field, path, "no PEM certificate found; expected -----BEGIN CERTIFICATE----- blocks"));
    }
    Ok(roots)
}

fn system_roots(field: &str) -> Result<RootCertStore, ConfigError> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
    if added == 0 {
        return Err(ca_error(
            field,
            Path::new("(system store)"),
            "no system root certificate found; install ca-certificates or set ca_file",
        ));
    }
    Ok(roots)
}

fn ca_error(field: &str, path: &Path, reason: &str) -> ConfigError {
    ConfigError::CaFile { field: field.to_string(), path: path.to_path_buf(), reason: reason.to_string() }
}
