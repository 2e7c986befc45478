//! Mapping gateway failures to S3 errors, in one place.

use s3s::{S3Error, s3_error};

use crate::data::WriteError;
use crate::error::RgwError;
use crate::error_body::{about_bucket, about_key};

/// An internal failure: `ServiceUnavailable` when the cluster cannot be reached or is
/// busy (clients retry), `InsufficientStorage` (507) when an OSD is full,
/// `InternalError` otherwise. Logged with its cause.
pub fn internal(e: RgwError) -> S3Error {
    match &e {
        RgwError::Cluster(cuttle_client::ClientError::Unreachable { .. }) => {
            tracing::warn!("cluster unavailable: {e}");
            s3_error!(ServiceUnavailable, "Please reduce your request rate.")
        }
        // A full OSD: like MinIO's and Ceph's full cluster, a 507 that SDKs do not
        // retry (retrying cannot help until space is freed); nothing was stored.
        RgwError::Cluster(c) if c.code() == "no_space" => {
            tracing::warn!("cluster full: {e}");
            custom(
                "InsufficientStorage",
                "The cluster is out of space; the request was not stored.",
                http::StatusCode::INSUFFICIENT_STORAGE,
            )
        }
        _ => {
            tracing::error!("internal error: {e}");
            s3_error!(
                InternalError,
                "We encountered an internal error. Please try again."
            )
        }
    }
}

/// A failed upload body.
pub fn write_failed(e: WriteError) -> S3Error {
    match e {
        WriteError::Body(m) => {
            tracing::debug!("upload body failed: {m}");
            if m.contains("SignatureMismatch") {
                s3_error!(
                    SignatureDoesNotMatch,
                    "The request signature we calculated does not match the signature you provided."
                )
            } else if m.contains("Sha256Mismatch") {
                payload_mismatch()
            } else {
                s3_error!(
                    IncompleteBody,
                    "You did not provide the number of bytes specified by the Content-Length HTTP header."
                )
            }
        }
        WriteError::TooLarge { .. } => s3_error!(
            EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed size"
        ),
        WriteError::Length { expected, got } if got < expected => {
            s3_error!(
                IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
            )
        }
        WriteError::Length { .. } => s3_error!(
            IncompleteBody,
            "The request body is longer than the Content-Length HTTP header."
        ),
        WriteError::Store(e) => internal(e),
    }
}

/// The body's SHA-256 is not the signed `x-amz-content-sha256`.
pub fn payload_mismatch() -> S3Error {
    custom(
        "XAmzContentSHA256Mismatch",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
        http::StatusCode::BAD_REQUEST,
    )
}

/// `NoSuchBucket` for bucket `name` (with S3's `<BucketName>`).
pub fn no_such_bucket(name: &str) -> S3Error {
    about_bucket(
        s3_error!(NoSuchBucket, "The specified bucket does not exist"),
        name,
    )
}

/// `NoSuchKey` for `key` (with S3's `<Key>`).
pub fn no_such_key(key: &str) -> S3Error {
    about_key(
        s3_error!(NoSuchKey, "The specified key does not exist."),
        key,
    )
}

/// An error code s3s does not know, with its status.
pub fn custom(code: &'static str, msg: &'static str, status: http::StatusCode) -> S3Error {
    let mut e = S3Error::with_message(s3s::S3ErrorCode::Custom(code.into()), msg);
    e.set_status_code(status);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuttle_client::ClientError;

    fn refused(code: &str) -> RgwError {
        RgwError::Cluster(ClientError::Refused {
            grpc: tonic::Code::ResourceExhausted,
            code: code.into(),
            message: "osd.1 is full".into(),
        })
    }

    #[test]
    fn a_full_cluster_is_a_507_that_sdks_do_not_retry() {
        let e = internal(refused("no_space"));
        assert_eq!(
            e.status_code(),
            Some(http::StatusCode::INSUFFICIENT_STORAGE)
        );
        assert_eq!(e.code().as_str(), "InsufficientStorage");
        let other = internal(refused("store_error"));
        assert_eq!(other.code().as_str(), "InternalError");
    }
}
