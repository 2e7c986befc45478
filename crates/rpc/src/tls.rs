//! TLS of the cluster's internal gRPC (monitors, OSDs, and the gateway and CLI as their
//! clients), loaded from PEM files named in each process's `[rpc_tls]` table.
//!
//! This module owns:
//! - the two shapes of that table: [`ServerTlsFiles`] (`ca`, `cert`, `key`) for daemons
//!   that serve gRPC and dial their peers (monitors, OSDs), and [`ClientTlsFiles`]
//!   (`ca` only) for processes that only dial (gateway, CLI);
//! - loading them into [`ClientTls`] (the CA bundle that server certificates must chain
//!   to) and [`ServerTls`] (this daemon's certificate chain and private key), checked
//!   when loaded so that a daemon with a missing or bad file refuses to start with an
//!   error naming the file ([`TlsError`]);
//! - [`tls_failure`]: whether a failed call failed in the TLS handshake.
//!
//! Clients verify the server's certificate against the CA bundle and the host name or IP
//! address they dial (`127.0.0.1` must be an IP SAN of the certificate, `localhost` a
//! DNS SAN). Servers ask for no client certificate: callers are authenticated by the
//! HMAC cluster secret ([`crate::auth`]), which TLS now also keeps from being observed.
//! Cryptography is rustls with the `ring` provider, like the rest of the workspace.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// Why TLS files cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read (missing, permissions).
    #[error("TLS file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The file is not PEM, or a PEM section does not decode.
    #[error("TLS file {path}: not valid PEM: {reason}")]
    BadPem {
        /// File.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
    /// The file holds no `CERTIFICATE` section.
    #[error("TLS file {path}: no PEM certificate in it")]
    NoCertificate {
        /// File.
        path: PathBuf,
    },
    /// A certificate of the CA bundle is not a usable trust anchor.
    #[error("TLS CA bundle {path}: certificate {index} is not a usable CA certificate: {reason}")]
    BadCa {
        /// File.
        path: PathBuf,
        /// Position of the certificate in the file, from 1.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The file holds no private key (PKCS#8, PKCS#1 or SEC1 PEM section).
    #[error("TLS file {path}: no PEM private key in it (PKCS#8, RSA or EC)")]
    NoKey {
        /// File.
        path: PathBuf,
    },
    /// The key cannot sign for the certificate (unsupported, or another certificate's).
    #[error("TLS certificate {cert} with key {key}: {reason}")]
    BadKey {
        /// Certificate chain file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// Why (from rustls).
        reason: String,
    },
}

/// `[rpc_tls]` of a daemon that serves gRPC (monitor, OSD): all three files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsFiles {
    /// PEM CA bundle the certificates of the daemons this one dials must chain to.
    pub ca: PathBuf,
    /// PEM certificate chain this daemon serves (leaf first).
    pub cert: PathBuf,
    /// PEM private key of that certificate.
    pub key: PathBuf,
}

/// `[rpc_tls]` of a process that only dials the cluster (gateway, CLI): the CA bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsFiles {
    /// PEM CA bundle the monitors' and OSDs' certificates must chain to.
    pub ca: PathBuf,
}

/// What a process needs to dial TLS gRPC: the trusted CA certificates. Cheap to clone.
#[derive(Clone)]
pub struct ClientTls {
    ca: Arc<Vec<u8>>,
    ca_path: PathBuf,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca", &self.ca_path)
            .finish_non_exhaustive()
    }
}

/// What a daemon needs to serve TLS gRPC: its certificate chain and key.
#[derive(Clone)]
pub struct ServerTls {
    cert: Arc<Vec<u8>>,
    key: Arc<Vec<u8>>,
    cert_path: PathBuf,
}

impl fmt::Debug for ServerTls {
    // The key never appears in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert", &self.cert_path)
            .finish_non_exhaustive()
    }
}

/// Both halves, for a daemon that serves and dials.
#[derive(Debug, Clone)]
pub struct DaemonTls {
    /// To serve.
    pub server: ServerTls,
    /// To dial peers.
    pub client: ClientTls,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

impl ClientTlsFiles {
    /// Reads and checks the CA bundle.
    pub fn load(&self) -> Result<ClientTls, TlsError> {
        ClientTls::load(&self.ca)
    }
}

impl ServerTlsFiles {
    /// Reads and checks all three files.
    pub fn load(&self) -> Result<DaemonTls, TlsError> {
        Ok(DaemonTls {
            server: ServerTls::load(&self.cert, &self.key)?,
            client: ClientTls::load(&self.ca)?,
        })
    }
}

impl ClientTls {
    /// Loads a PEM CA bundle; every certificate in it must be a usable trust anchor.
    pub fn load(ca: &Path) -> Result<ClientTls, TlsError> {
        let pem = read(ca)?;
        let mut roots = RootCertStore::empty();
        for (i, cert) in certificates(ca, &pem)?.into_iter().enumerate() {
            roots.add(cert).map_err(|e| TlsError::BadCa {
                path: ca.to_path_buf(),
                index: i + 1,
                reason: e.to_string(),
            })?;
        }
        Ok(ClientTls {
            ca: Arc::new(pem),
            ca_path: ca.to_path_buf(),
        })
    }

    /// The CA bundle's path.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// tonic's client settings: trust only this CA; the server name checked is the
    /// host of the address dialled.
    pub fn config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.ca.as_slice()))
    }
}

impl ServerTls {
    /// Loads a PEM certificate chain and its private key, checking that the key can
    /// sign for the certificate.
    pub fn load(cert: &Path, key: &Path) -> Result<ServerTls, TlsError> {
        let cert_pem = read(cert)?;
        let chain = certificates(cert, &cert_pem)?;
        let key_pem = read(key)?;
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
                path: key.to_path_buf(),
            },
            other => TlsError::BadPem {
                path: key.to_path_buf(),
                reason: other.to_string(),
            },
        })?;
        // The same check rustls makes when the server starts, made now so the error
        // names both files: the key parses, is supported, and matches the leaf.
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
        .map_err(|e| TlsError::BadKey {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(ServerTls {
            cert: Arc::new(cert_pem),
            key: Arc::new(key_pem),
            cert_path: cert.to_path_buf(),
        })
    }

    /// tonic's server settings: this identity, no client certificate asked for.
    pub fn config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(Identity::from_pem(
            self.cert.as_slice(),
            self.key.as_slice(),
        ))
    }
}

/// The TLS error behind a failed call, if it failed in the TLS handshake (an untrusted
/// or mismatched server certificate, a peer that does not speak TLS...): such failures
/// do not heal by retrying.
pub fn tls_failure(status: &tonic::Status) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Some(t.to_string());
        }
        // tokio-rustls reports handshake errors as an `io::Error` wrapping the rustls
        // error, whose `source` skips the wrapped error itself.
        if let Some(t) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(t.to_string());
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A CA and a leaf it signed for 127.0.0.1 / localhost, as PEM.
    struct Pki {
        ca: String,
        leaf: String,
        leaf_key: String,
        other_key: String,
    }

    fn pki() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        Pki {
            ca: ca_cert.pem(),
            leaf: leaf.pem(),
            leaf_key: leaf_key.serialize_pem(),
            other_key: rcgen::KeyPair::generate().unwrap().serialize_pem(),
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn good_files_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = pki();
        let files = ServerTlsFiles {
            ca: write(dir.path(), "ca.pem", &p.ca),
            cert: write(dir.path(), "server.pem", &p.leaf),
            key: write(dir.path(), "server.key", &p.leaf_key),
        };
        let tls = files.load().unwrap();
        assert_eq!(tls.client.ca_path(), files.ca);
        let shown = format!("{tls:?}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        ClientTlsFiles { ca: files.ca }.load().unwrap();
    }

    #[test]
    fn loading_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = pki();
        let ca = write(dir.path(), "ca.pem", &p.ca);
        let cert = write(dir.path(), "server.pem", &p.leaf);
        let key = write(dir.path(), "server.key", &p.leaf_key);
        let missing = dir.path().join("missing.pem");
        let garbage = write(dir.path(), "garbage.pem", "hello, not a certificate\n");
        let broken = write(
            dir.path(),
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
        );
        let not_ca = write(
            dir.path(),
            "not-ca.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let other_key = write(dir.path(), "other.key", &p.other_key);

        let e = ClientTls::load(&missing).unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }), "{e:?}");
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let e = ClientTls::load(&garbage).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");
        assert!(
            e.to_string()
                .ends_with("garbage.pem: no PEM certificate in it"),
            "{e}"
        );

        let e = ClientTls::load(&broken).unwrap_err();
        assert!(matches!(e, TlsError::BadPem { .. }), "{e:?}");
        assert!(e.to_string().contains("broken.pem"), "{e}");

        let e = ClientTls::load(&not_ca).unwrap_err();
        assert!(matches!(e, TlsError::BadCa { index: 1, .. }), "{e:?}");
        assert!(e.to_string().contains("not-ca.pem"), "{e}");

        // A key file without a key, a certificate file holding a key, another key.
        let e = ServerTls::load(&cert, &ca).unwrap_err();
        assert!(matches!(e, TlsError::NoKey { .. }), "{e:?}");
        assert!(e.to_string().contains("ca.pem"), "{e}");
        let e = ServerTls::load(&key, &key).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");
        let e = ServerTls::load(&cert, &other_key).unwrap_err();
        assert!(matches!(e, TlsError::BadKey { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("server.pem") && msg.contains("other.key"),
            "{msg}"
        );
        let e = ServerTls::load(&cert, &missing).unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }), "{e:?}");

        // The table's own shape: a client table refuses server keys, and the other way.
        assert!(toml::from_str::<ClientTlsFiles>("ca = \"a\"\ncert = \"b\"\n").is_err());
        let e = toml::from_str::<ServerTlsFiles>("ca = \"a\"\ncert = \"b\"\n").unwrap_err();
        assert!(e.to_string().contains("key"), "{e}");
    }
}
