//! Optional built-in TLS (rustls on the aws-lc provider), and the rule every private key
//! file must follow: readable by its owner only.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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

/// A throwaway local CA and a `localhost` / `127.0.0.1` certificate it signed, for
/// `serve --dev --tls`: kept in `dir` (made owner-only) and reused on the next start, so a
/// client told to trust the CA once keeps trusting it.
pub struct DevCertificates {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn dev_certificates(dir: &Path) -> Result<DevCertificates, String> {
    let files = DevCertificates {
        ca: dir.join("ca.pem"),
        cert: dir.join("localhost.pem"),
        key: dir.join("localhost-key.pem"),
    };
    if files.ca.is_file() && files.cert.is_file() && files.key.is_file() {
        return Ok(files);
    }
    let failed =
        |e: &dyn std::fmt::Display| format!("dev TLS certificates in {}: {e}", dir.display());
    // Folders made here are the owner's alone, whatever the umask: the keys folder above
    // must not be writable by others, or the server refuses it.
    for folder in dir.ancestors().collect::<Vec<_>>().into_iter().rev() {
        if folder.as_os_str().is_empty() || folder.exists() {
            continue;
        }
        std::fs::create_dir(folder).map_err(|e| failed(&e))?;
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| failed(&e))?;
    }
    let mut ca_params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| failed(&e))?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "tokenmint dev CA (serve --dev --tls)",
    );
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = rcgen::KeyPair::generate().map_err(|e| failed(&e))?;
    let ca = ca_params.self_signed(&ca_key).map_err(|e| failed(&e))?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(|e| failed(&e))?;
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = rcgen::KeyPair::generate().map_err(|e| failed(&e))?;
    let cert = leaf.signed_by(&leaf_key, &issuer).map_err(|e| failed(&e))?;
    let write = |path: &Path, text: String, mode: u32| -> Result<(), String> {
        std::fs::write(path, text).map_err(|e| failed(&e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| failed(&e))
    };
    write(&files.key, leaf_key.serialize_pem(), 0o600)?;
    write(&files.cert, cert.pem(), 0o644)?;
    write(&files.ca, ca.pem(), 0o644)?;
    Ok(files)
}
