//! Error codes on the wire: a gRPC status code for the transport, plus a stable
//! machine-readable Cuttle code in the `x-cuttle-error` metadata entry (for example
//! `pool_exists`, `no_quorum`), and a human message.

use tonic::Status;
use tonic::metadata::MetadataValue;

/// Metadata key of the Cuttle error code.
pub const ERROR_CODE_KEY: &str = "x-cuttle-error";

/// A status with a Cuttle error code attached.
pub fn status(code: tonic::Code, cuttle_code: &'static str, message: impl Into<String>) -> Status {
    let mut s = Status::new(code, message);
    s.metadata_mut()
        .insert(ERROR_CODE_KEY, MetadataValue::from_static(cuttle_code));
    s
}

/// The Cuttle error code of a status, if it carries one.
pub fn error_code(s: &Status) -> Option<&str> {
    s.metadata().get(ERROR_CODE_KEY)?.to_str().ok()
}
