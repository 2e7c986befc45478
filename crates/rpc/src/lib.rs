//! `cuttle-rpc`: plumbing every Cuttle daemon and client shares on top of tonic.
//!
//! - [`auth`]: the cluster's shared-secret authentication, a client interceptor that
//!   signs every call and a server interceptor that refuses unsigned or badly signed
//!   ones;
//! - [`errors`]: a stable, machine-readable error code carried next to a gRPC status;
//! - [`channel`]: endpoint settings (timeouts, message limits) used everywhere, and
//!   [`ChannelConfig`], how a process dials (plaintext or TLS);
//! - [`tls`]: TLS of the internal gRPC, loaded from the `[rpc_tls]` PEM files.
//!
//! Must not depend on any daemon, storage or placement code.

pub mod auth;
pub mod channel;
pub mod errors;
pub mod tls;

pub use auth::{AuthError, ClientAuth, ClusterSecret, ServerAuth};
pub use channel::ChannelConfig;
pub use errors::{ERROR_CODE_KEY, error_code, status};
pub use tls::{ClientTls, ClientTlsFiles, DaemonTls, ServerTls, ServerTlsFiles, TlsError};
