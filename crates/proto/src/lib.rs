//! `cuttle-proto`: the gRPC protocol of Cuttle (package `cuttle.v1`, from
//! `proto/cuttle/v1/*.proto`) and its conversions to `cuttle-types`.
//!
//! Generated code lives here and nowhere else; daemons convert at their edges with the
//! `From`/`TryFrom` impls in [`convert`]. The protocol evolves additively only: new
//! fields get new numbers, old numbers are never reused.
//!
//! Must not depend on any daemon or on storage crates.

#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic,
    unreachable_pub
)]
mod generated {
    tonic::include_proto!("cuttle.v1");
}

pub mod codec;
pub mod convert;
pub mod payload;

pub use convert::ProtoError;
pub use generated::*;
