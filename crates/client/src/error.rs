//! `ClientError`: what a caller learns when a cluster call fails.

use tonic::Code;

/// Why a call to the cluster failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The cluster answered with an error (stable `code`, human `message`).
    #[error("{message}")]
    Refused {
        /// gRPC status code.
        grpc: Code,
        /// Cuttle error code (e.g. `pool_exists`, `no_quorum`), or the gRPC code name.
        code: String,
        /// Explanation.
        message: String,
    },
    /// No monitor could be reached within the deadline.
    #[error("no monitor reachable within {secs}s (tried {tried}): {last}")]
    Unreachable {
        /// The deadline.
        secs: u64,
        /// Addresses tried.
        tried: String,
        /// The last transport error.
        last: String,
    },
    /// The TLS handshake failed (a server certificate the configured CA does not
    /// vouch for, or naming another host; a server without TLS): retrying cannot help.
    #[error("TLS handshake with {tried} failed: {reason} (check [rpc_tls] ca)")]
    Tls {
        /// Addresses that refused.
        tried: String,
        /// The TLS error.
        reason: String,
    },
    /// A reply did not decode.
    #[error("malformed reply from the cluster: {0}")]
    Protocol(String),
    /// Bad client configuration.
    #[error("client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// The Cuttle error code, when the cluster sent one.
    pub fn code(&self) -> &str {
        match self {
            ClientError::Refused { code, .. } => code,
            ClientError::Unreachable { .. } => "unreachable",
            ClientError::Tls { .. } => "tls",
            ClientError::Protocol(_) => "protocol",
            ClientError::Config(_) => "config",
        }
    }

    pub(crate) fn from_status(s: &tonic::Status) -> ClientError {
        ClientError::Refused {
            grpc: s.code(),
            code: cuttle_rpc::error_code(s)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{:?}", s.code()).to_lowercase()),
            message: s.message().to_string(),
        }
    }
}
