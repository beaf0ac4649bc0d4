//! Optional built-in TLS (rustls on the aws-lc provider), and the rule every private key
//! file must follow: readable by its owner only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSettings;

/// Refuses a private key file that group or others may read.
pub fn ensure_owner_only(path: &Path) -> Result<(), String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} holds a private key but is readable by others (mode {mode:o}); restrict it with `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// The rustls configuration, or `None` when TLS is not configured.
pub fn server_config(settings: &TlsSettings) -> Result<Option<ServerConfig>, String> {
    match (
        settings.cert.as_os_str().is_empty(),
        settings.key.as_os_str().is_empty(),
    ) {
        (true, true) => return Ok(None),
        (false, false) => {}
        _ => return Err("server.tls.cert and server.tls.key must be set together".into()),
    }
    ensure_owner_only(&settings.key)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&settings.cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("server.tls.cert {}: {e}", settings.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "server.tls.cert {} holds no certificate",
            settings.cert.display()
        ));
    }
    // The error names the file, never its contents.
    let key = PrivateKeyDer::from_pem_file(&settings.key).map_err(|_| {
        format!(
            "server.tls.key {} holds no usable private key",
            settings.key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("server.tls: the certificate and key do not work together: {e}"))?;
    Ok(Some(config))
}
