//! Cluster authentication with a shared secret (cephx-like, much simpler).
//!
//! Every process of a cluster (monitors, OSDs, gateways, admin tools) knows the
//! cluster secret, 32 random bytes created with the cluster. Each call carries the
//! header `x-cuttle-auth: v1.<unix-ms>.<nonce>.<mac>` where `mac` is
//! HMAC-SHA256(secret, "v1.<unix-ms>.<nonce>") in hex. The server recomputes the MAC
//! (constant-time comparison) and accepts the call only if the timestamp is within
//! [`MAX_SKEW_MS`] of its clock.
//!
//! Limits, stated plainly: the secret is never sent, but a captured header can be
//! replayed by someone on the network path within the skew window, the call bodies are
//! neither signed nor encrypted (use TLS on untrusted networks), and every holder of
//! the secret has every right — there are no per-daemon identities or capabilities
//! as in cephx. Clocks must agree within the window.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Metadata key of the authentication header.
pub const AUTH_KEY: &str = "x-cuttle-auth";
/// Largest accepted clock difference between caller and callee, in milliseconds.
pub const MAX_SKEW_MS: u64 = 5 * 60 * 1000;
const VERSION: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

/// Why a secret or a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The secret text is not 64 hex digits.
    #[error("the cluster secret must be 64 hexadecimal digits (32 bytes)")]
    BadSecret,
    /// The call carries no authentication header.
    #[error("missing cluster authentication")]
    Missing,
    /// The header is malformed.
    #[error("malformed cluster authentication header")]
    Malformed,
    /// The header's time is outside the accepted window.
    #[error("cluster authentication expired or from the future (clock skew?)")]
    Stale,
    /// The MAC does not match: the caller does not know this cluster's secret.
    #[error("cluster authentication failed: wrong cluster secret")]
    BadMac,
}

/// The cluster's shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret([u8; 32]);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    /// A new random secret.
    pub fn generate() -> ClusterSecret {
        let mut b = [0u8; 32];
        rand::rng().fill(&mut b);
        ClusterSecret(b)
    }

    /// Parses the hex form.
    pub fn from_hex(s: &str) -> Result<ClusterSecret, AuthError> {
        let v = hex::decode(s.trim()).map_err(|_| AuthError::BadSecret)?;
        let b: [u8; 32] = v.try_into().map_err(|_| AuthError::BadSecret)?;
        Ok(ClusterSecret(b))
    }

    /// The hex form (what configuration files hold).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn mac(&self, message: &str) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(message.as_bytes());
        mac
    }

    /// A fresh header value for an outgoing call.
    pub fn sign(&self, now_ms: u64) -> String {
        let nonce: u64 = rand::rng().random();
        let message = format!("{VERSION}.{now_ms}.{nonce:016x}");
        let tag = self.mac(&message).finalize().into_bytes();
        format!("{message}.{}", hex::encode(tag))
    }

    /// Checks a header value received at `now_ms`.
    pub fn verify(&self, header: &str, now_ms: u64) -> Result<(), AuthError> {
        let mut parts = header.split('.');
        let (Some(version), Some(ts), Some(nonce), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(AuthError::Malformed);
        };
        if version != VERSION || nonce.len() != 16 {
            return Err(AuthError::Malformed);
        }
        let ts: u64 = ts.parse().map_err(|_| AuthError::Malformed)?;
        let tag = hex::decode(tag).map_err(|_| AuthError::Malformed)?;
        let message = format!("{version}.{ts}.{nonce}");
        self.mac(&message)
            .verify_slice(&tag)
            .map_err(|_| AuthError::BadMac)?;
        if ts.abs_diff(now_ms) > MAX_SKEW_MS {
            return Err(AuthError::Stale);
        }
        Ok(())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Client interceptor: signs every outgoing call.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    secret: ClusterSecret,
}

impl ClientAuth {
    /// An interceptor signing with `secret`.
    pub fn new(secret: ClusterSecret) -> ClientAuth {
        ClientAuth { secret }
    }
}

impl Interceptor for ClientAuth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let value = MetadataValue::try_from(self.secret.sign(now_ms()))
            .map_err(|_| Status::internal("cannot encode the authentication header"))?;
        req.metadata_mut().insert(AUTH_KEY, value);
        Ok(req)
    }
}

/// Server interceptor: refuses calls without a valid signature.
#[derive(Debug, Clone)]
pub struct ServerAuth {
    secret: ClusterSecret,
}

impl ServerAuth {
    /// An interceptor checking against `secret`.
    pub fn new(secret: ClusterSecret) -> ServerAuth {
        ServerAuth { secret }
    }
}

impl Interceptor for ServerAuth {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let header = req
            .metadata()
            .get(AUTH_KEY)
            .ok_or(AuthError::Missing)
            .and_then(|v| v.to_str().map_err(|_| AuthError::Malformed));
        match header.and_then(|h| self.secret.verify(h, now_ms())) {
            Ok(()) => Ok(req),
            Err(e) => Err(crate::errors::status(
                tonic::Code::Unauthenticated,
                "unauthenticated",
                e.to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_right_secret_and_time() {
        let s = ClusterSecret::generate();
        let other = ClusterSecret::generate();
        let h = s.sign(1_000_000);
        assert_eq!(s.verify(&h, 1_000_000), Ok(()));
        assert_eq!(other.verify(&h, 1_000_000), Err(AuthError::BadMac));
        assert_eq!(
            s.verify(&h, 1_000_000 + MAX_SKEW_MS + 1),
            Err(AuthError::Stale)
        );
        assert_eq!(s.verify("v1.x.y", 0), Err(AuthError::Malformed));
        assert_eq!(s.verify("", 0), Err(AuthError::Malformed));
        // Tampering with the timestamp breaks the MAC.
        let forged = h.replacen("1000000", "1000001", 1);
        assert_eq!(s.verify(&forged, 1_000_000), Err(AuthError::BadMac));
    }

    #[test]
    fn secrets_round_trip_through_hex() {
        let s = ClusterSecret::generate();
        assert_eq!(ClusterSecret::from_hex(&s.to_hex()), Ok(s));
        assert_eq!(ClusterSecret::from_hex("abcd"), Err(AuthError::BadSecret));
        assert!(!format!("{:?}", ClusterSecret::generate()).contains(|c: char| c.is_ascii_digit()));
    }
}
