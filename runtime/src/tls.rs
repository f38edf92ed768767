//! TLS (`wss://`) with rustls, on both sides (feature `tls`, on by default).
//!
//! Every configuration this crate builds uses the `ring` provider
//! explicitly ([`crypto_provider`]), never the process-wide default, so no
//! "no CryptoProvider installed" panic can come from here. Build your own
//! configurations the same way, with `builder_with_provider`:
//!
//! ```no_run
//! use std::sync::Arc;
//! use swaggersocket::tls::{crypto_provider, rustls};
//!
//! # fn run(roots: rustls::RootCertStore,
//! #        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
//! #        key: rustls::pki_types::PrivateKeyDer<'static>) -> Result<(), rustls::Error> {
//! // A device that presents a client certificate to a private CA.
//! let config = rustls::ClientConfig::builder_with_provider(crypto_provider())
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(roots)
//!     .with_client_auth_cert(chain, key)?;
//! let builder = swaggersocket::Client::builder("wss://cloud.example/devices")
//!     .tls_config(Arc::new(config));
//! # Ok(()) }
//! ```

use crate::error::{Error, ErrorKind};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::io;
use std::path::Path;
use std::sync::Arc;

/// The rustls crate this one is built with, for building configurations.
pub use rustls;

/// The crypto provider of every configuration this crate builds: rustls's
/// `ring` provider.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(what: String, e: impl Into<crate::BoxError>) -> Error {
    Error::with_source(ErrorKind::Config, what, e)
}

/// Reads every certificate of a PEM file (a chain: leaf first).
pub fn certificates_from_pem_file(
    path: impl AsRef<Path>,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let path = path.as_ref();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| config_error(format!("reading certificates from {}", path.display()), e))?;
    if certs.is_empty() {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

/// Reads the private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key_from_pem_file(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, Error> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| config_error(format!("reading a private key from {}", path.display()), e))
}

/// A server configuration from a PEM certificate chain and its PEM private
/// key, without client certificates.
pub fn server_config_from_pem_files(
    cert: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> Result<ServerConfig, Error> {
    let certs = certificates_from_pem_file(cert)?;
    let key = private_key_from_pem_file(key)?;
    ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error("TLS protocol versions".into(), e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| config_error("the certificate and key do not make a TLS server".into(), e))
}

/// The client configuration of `wss://` by default: the webpki (Mozilla)
/// roots, no client certificate.
pub fn client_config() -> ClientConfig {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    client_config_with_roots(roots)
}

/// A client configuration that trusts only the CA certificates of a PEM
/// file (a private CA), no client certificate.
pub fn client_config_with_ca_pem_file(path: impl AsRef<Path>) -> Result<ClientConfig, Error> {
    let path = path.as_ref();
    let mut roots = RootCertStore::empty();
    for cert in certificates_from_pem_file(path)? {
        roots
            .add(cert)
            .map_err(|e| config_error(format!("a CA certificate of {}", path.display()), e))?;
    }
    Ok(client_config_with_roots(roots))
}

fn client_config_with_roots(roots: RootCertStore) -> ClientConfig {
    // The ring provider supports the safe default versions; a failure here
    // would be a rustls bug, and the explicit list is the same.
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| {
            ClientConfig::builder_with_provider(crypto_provider())
                .with_protocol_versions(rustls::DEFAULT_VERSIONS)
                .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"))
        });
    builder.with_root_certificates(roots).with_no_client_auth()
}

/// What to check after a failed TLS handshake, where rustls says which
/// check failed (an empty string otherwise).
pub(crate) fn failure_hint(error: &io::Error) -> &'static str {
    use rustls::CertificateError as C;
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(C::UnknownIssuer)) => {
            " (the certificate is not signed by a CA this side trusts: check the CA configured)"
        }
        Some(rustls::Error::InvalidCertificate(C::NotValidForName))
        | Some(rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. })) => {
            " (the certificate is not issued for the host name in the URL)"
        }
        Some(rustls::Error::InvalidCertificate(C::Expired))
        | Some(rustls::Error::InvalidCertificate(C::ExpiredContext { .. })) => {
            " (the certificate has expired)"
        }
        Some(rustls::Error::InvalidMessage(_)) => {
            " (the peer does not speak TLS: is it a plain ws:// endpoint?)"
        }
        _ => "",
    }
}
