//! Gateway metadata in `.rgw.meta`: users with their keys and tokens ([`UserStore`])
//! and bucket records ([`BucketStore`]). Layout in [`crate::records`].
//!
//! Multi-object changes are ordered so that a crash leaves nothing that grants access:
//! a key or token record is written after its user exists and removed before the user
//! is; a bucket name is claimed by an exclusive create before anything refers to it.

mod buckets;
mod users;

pub use buckets::{BucketStore, CreateBucketOutcome};
pub use users::{NewCredential, UserStore, UserView};

use bytes::Bytes;
use cuttle_client::IoCtx;

use crate::error::{RgwError, RgwResult, is_not_found};
use crate::records::{Versioned, decode};

/// Reads and decodes the whole data of a record object; `None` if it does not exist.
pub(crate) async fn read_record<T>(io: &IoCtx, object: &str) -> RgwResult<Option<T>>
where
    T: serde::de::DeserializeOwned + Versioned,
{
    match io.read(object, 0, 0).await {
        Ok(data) => decode(object, &data).map(Some),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(RgwError::Cluster(e)),
    }
}

/// Removes an object, treating "does not exist" as done.
pub(crate) async fn remove_if_exists(io: &IoCtx, object: &str) -> RgwResult<()> {
    match io.remove(object).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(RgwError::Cluster(e)),
    }
}

/// Omap entries of an object with `prefix`, all pages; empty if the object is missing.
pub(crate) async fn omap_all(
    io: &IoCtx,
    object: &str,
    prefix: &[u8],
) -> RgwResult<Vec<(Bytes, Bytes)>> {
    let mut out = Vec::new();
    let mut after = Vec::new();
    loop {
        let (page, more) = match io.omap_list(object, prefix, &after, 1000).await {
            Ok(r) => r,
            Err(e) if is_not_found(&e) => return Ok(out),
            Err(e) => return Err(RgwError::Cluster(e)),
        };
        if let Some((k, _)) = page.last() {
            after = k.to_vec();
        }
        let empty = page.is_empty();
        out.extend(page);
        if !more || empty {
            return Ok(out);
        }
    }
}
