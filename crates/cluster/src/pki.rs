//! The throw-away certificates of a local cluster made with `cuttle cluster up --tls`:
//! a CA and one server certificate it signs, for every daemon (they all listen on
//! loopback), in `DIR/tls/`:
//!
//! - `ca.pem`: the CA certificate, which clients trust (`[rpc_tls] ca`, and S3 clients
//!   talking to the gateways' HTTPS);
//! - `server.pem`, `server.key` (mode 0600): the certificate every monitor, OSD and
//!   gateway serves, for IP `127.0.0.1` and DNS `localhost`.
//!
//! The CA's private key is not kept: nothing else can ever be signed by this CA.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::ClusterError;

/// The directory of the certificates inside a cluster directory.
pub fn tls_dir(dir: &Path) -> PathBuf {
    dir.join("tls")
}

/// Paths of the files [`generate`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiFiles {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server certificate (signed by the CA).
    pub cert: PathBuf,
    /// The server certificate's private key.
    pub key: PathBuf,
}

impl PkiFiles {
    /// Where the files of the cluster in `dir` are.
    pub fn in_dir(dir: &Path) -> PkiFiles {
        let tls = tls_dir(dir);
        PkiFiles {
            ca: tls.join("ca.pem"),
            cert: tls.join("server.pem"),
            key: tls.join("server.key"),
        }
    }
}

fn pki_error(e: rcgen::Error) -> ClusterError {
    ClusterError::Certificates(e.to_string())
}

/// Creates a CA and a server certificate for `127.0.0.1` / `localhost` in `DIR/tls/`.
pub fn generate(dir: &Path) -> Result<PkiFiles, ClusterError> {
    let files = PkiFiles::in_dir(dir);
    let ca_key = KeyPair::generate().map_err(pki_error)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(pki_error)?;
    // A name of its own: a client trusting another local cluster's CA is then told
    // the issuer is unknown, not that a signature is bad.
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("Cuttle local cluster CA {}", uuid::Uuid::new_v4().simple()),
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(pki_error)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(pki_error)?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(pki_error)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "Cuttle local cluster");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &issuer).map_err(pki_error)?;

    let tls = tls_dir(dir);
    std::fs::create_dir_all(&tls).map_err(|source| ClusterError::Io {
        what: "creating",
        path: tls.clone(),
        source,
    })?;
    write(&files.ca, ca_cert.pem().as_bytes(), 0o644)?;
    write(&files.cert, cert.pem().as_bytes(), 0o644)?;
    write(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    Ok(files)
}

/// Writes a new file with `mode` (the key is never readable by others, not even
/// between creation and a chmod).
fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ClusterError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| ClusterError::Io {
        what: "writing",
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn generated_files_load_as_server_tls_and_the_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let files = generate(dir.path()).unwrap();
        let tls = cuttle_rpc::ServerTlsFiles {
            ca: files.ca.clone(),
            cert: files.cert.clone(),
            key: files.key.clone(),
        }
        .load();
        assert!(tls.is_ok(), "{tls:?}");
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(files, PkiFiles::in_dir(dir.path()));
    }
}
