//! `cuttle-placement`: where data lives, computed the same way everywhere.
//!
//! Clients, OSDs and monitors each hold a copy of the cluster map and compute
//! placements locally, so this crate must produce bit-identical answers on every
//! machine. It owns the two mappings of Cuttle's data path:
//!
//! 1. **Object → PG**: [`object_to_pg`] hashes `(pool, name)` with [`object_hash`]
//!    (Jenkins' lookup2, Ceph's object-name hash) and reduces it with Ceph's
//!    [`stable_mod`], so raising `pg_num` by one splits exactly one PG.
//! 2. **PG → OSDs**: [`Hierarchy::place`] runs straw2 over a root → host → OSD tree
//!    built from the map ([`Hierarchy::from_map`]) and returns a [`Placement`]: one
//!    OSD per member position in distinct failure domains, or `None` where the map
//!    cannot provide one.
//!
//! # Key types
//! - [`Hierarchy`]: the weighted tree of one map epoch; immutable, build once, share.
//! - [`Placement`]: the members of one PG (shard order for erasure-coded pools,
//!   primary first for replicated ones).
//!
//! # Invariants (each is a test in `tests/`)
//! - Deterministic: the same map and PG always give the same placement; golden
//!   vectors pin the hash, the logarithm and small placements.
//! - Members are in pairwise distinct failure domains; never `out`, never weight 0.
//! - A placement is degraded (has `None`s) exactly when fewer usable failure domains
//!   exist than the pool's width; it never doubles up.
//! - Shares follow weights (weighted sampling without replacement over failure
//!   domains, checked against an exact model).
//! - Adding an OSD changes only PGs that gain it; marking an OSD out moves only the
//!   positions it held (and, in PGs with several out members, other replacements).
//!   See [`choose`] for the algorithm and its exact guarantees.
//!
//! # Example
//! ```
//! use cuttle_placement::{Hierarchy, object_to_pg};
//! use cuttle_types::{EcProfile, FailureDomain, OsdId, OsdWeight, Pool, PoolId, Redundancy};
//!
//! let mut builder = Hierarchy::builder();
//! for (id, host) in ["node-a", "node-b", "node-c", "node-a"].into_iter().enumerate() {
//!     builder.osd(host, OsdId(id as u32), OsdWeight::ONE);
//! }
//! let tree = builder.build()?; // or Hierarchy::from_map(&cluster_map)
//! let redundancy = Redundancy::Erasure(EcProfile::new(2, 1));
//! let pool = Pool {
//!     id: PoolId(1),
//!     name: "data".into(),
//!     redundancy,
//!     pg_num: 32,
//!     failure_domain: FailureDomain::Host,
//!     min_size: redundancy.default_min_size(),
//! };
//! let pg = object_to_pg(&pool, b"photos/cat.jpg");
//! let placement = tree.place(&pool, pg);
//! assert!(placement.is_complete());
//! let shard0 = placement.members[0]; // EC: index = shard id
//! assert_eq!(placement.primary(), shard0);
//! # Ok::<(), cuttle_placement::HierarchyError>(())
//! ```
//!
//! # Layout
//! - [`hash`]: the Jenkins hash and its domain-separation seeds.
//! - `ln`: integer fixed-point logarithm for straw2 draws.
//! - `straw2`: weighted choice of one child of a bucket.
//! - [`hierarchy`]: the tree, its builder and [`Hierarchy::place`].
//! - [`choose`]: the two-phase member selection (collisions, `out` rejection).
//! - [`pg`]: object hash, `stable_mod`, PG input.
//! - [`placement`]: the [`Placement`] result.
//!
//! # Rules
//! This crate is pure computation: no I/O, no async, no clock, no randomness, and no
//! floating point in any placement decision (weights are 16.16 fixed point, the
//! logarithm is an integer table). It depends only on `cuttle-types`, `serde` and
//! `thiserror`, and must not depend on the client, the daemons, storage or any
//! networking or async crate.

pub mod choose;
mod error;
pub mod hash;
pub mod hierarchy;
mod ln;
pub mod pg;
pub mod placement;
mod straw2;

pub use choose::CHOOSE_TRIES;
pub use error::HierarchyError;
pub use hierarchy::{Hierarchy, HierarchyBuilder};
pub use pg::{object_hash, object_to_pg, pg_input, pg_num_mask, stable_mod};
pub use placement::Placement;
