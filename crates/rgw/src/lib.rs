//! `cuttle-rgw`: Cuttle's S3 gateway, a library (so `cuttle user …` can reuse the user
//! store) and the `cuttle-rgw` daemon.
//!
//! Layout:
//! - [`server`]: the process (cluster connection, HTTP/1.1 + TLS, shutdown);
//!   [`bare_errors`]: S3-shaped answers to requests hyper cannot parse;
//!   [`unread_body`]: `Connection: close` after an unread `Expect: 100-continue` body;
//! - [`front`]: per request, before s3s: request ids, header limits, token mode,
//!   SigV2 clock skew and signatures ([`sigv2`]), SigV4 header signatures over a
//!   signed payload hash ([`sigv4`]) and that hash's check ([`payload_hash`]);
//!   [`chunked`]: aws-chunked decoding for token requests; [`bad_range`]: unusable
//!   `Range` headers ignored, as S3 does;
//!   [`error_body`]: the context elements of error bodies (`<Key>`, `<BucketName>`…);
//! - [`auth`]: secrets for s3s's SigV4 checks, the access hook that sets the
//!   [`auth::Caller`], cached lookups; [`acl`]: S3 ACLs and access decisions;
//! - [`s3`]: the S3 operations (s3s's `S3` trait) over the stores;
//! - stores: [`meta`] (users, keys, tokens, bucket records), [`index`] (sharded
//!   bucket index and ordered listing), [`data`] (striped object data, streaming with
//!   single-pass hashing off the reactor, MD5 and payload SHA-256 in the multi-stream
//!   [`hash_lanes`] services), with their on-disk [`records`];
//! - [`metrics`]: Prometheus request metrics (served on `metrics_addr`);
//! - [`checksum`], [`names`], [`host`], [`config`], [`pools`], [`error`].
//!
//! Invariants: an object is visible exactly when its index entry exists, and the entry
//! is written only after all its data is durable; object data is immutable once
//! written (overwrites write a new instance, swap the entry, then delete the old
//! data); secrets and tokens are never logged and tokens are stored only hashed.
//!
//! Depends on the client library only; must not depend on OSD or monitor code.

pub mod acl;
pub mod auth;
pub mod bad_range;
pub mod bare_errors;
pub mod checksum;
pub mod chunked;
pub mod coherence;
pub mod config;
pub mod data;
pub mod error;
pub mod error_body;
pub mod front;
pub mod gc;
pub mod hash_lanes;
pub mod host;
pub mod index;
pub mod meta;
pub mod metrics;
pub mod names;
pub mod orphans;
pub mod payload_hash;
pub mod pools;
pub mod records;
pub mod s3;
pub mod server;
pub mod sigv2;
pub mod sigv4;
pub mod unread_body;

pub use config::RgwConfig;
pub use error::{RgwError, RgwResult};
pub use meta::{BucketStore, NewCredential, UserStore, UserView};
pub use pools::{PoolNames, Pools};
pub use server::Server;
