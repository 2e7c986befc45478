//! The placement tree: root → host → OSD, with weights, built from the cluster map.
//!
//! The tree is an arena of `Node`s. Every bucket lists its children with their hash
//! key and weight side by side (`Candidate`s) so that a straw2 pass reads one
//! contiguous slice. A bucket's weight is the sum of its children's weights; an OSD's
//! weight is its `OsdInfo::weight` whether or not it is `in`, because "out" is modelled
//! by rejecting the OSD when it is chosen (see [`crate::choose`]), not by re-weighting,
//! so that draws that never touched it are unchanged.
//!
//! Children are kept in a canonical order (hosts by name, OSDs by id), which only
//! matters for exact ties; the order OSDs were added in never changes the result.
//!
//! # Keys
//! An OSD's hash key is its id. A host's key is the [`hash_bytes`] of its name with a
//! dedicated seed, so it depends on nothing but the name: adding a host never changes
//! the others' draws. If two sibling names ever hash to the same key (odds about
//! `n^2 / 2^33`), the later name in canonical order is re-keyed by hashing its name with
//! the colliding key as seed, until unique.
//!
//! # Adding levels
//! `Level` is ordered from the root down. A rack or site level is a new variant
//! between `Root` and `Host`, a node kind built from a new `OsdInfo` field, and a new
//! `FailureDomain` mapping in `Level::of`; the descent in [`crate::choose`] is
//! already generic over depth.

use std::collections::BTreeMap;

use cuttle_types::{ClusterMap, FailureDomain, OsdId, OsdWeight};

use crate::error::HierarchyError;
use crate::hash::{SEED_BUCKET_KEY, hash_bytes};
use crate::placement::Placement;
use crate::straw2::Candidate;

/// A level of the tree, ordered from the root down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Level {
    /// The single root bucket.
    Root,
    /// A host bucket: the OSDs of one machine.
    Host,
    /// A leaf: one OSD.
    Osd,
}

impl Level {
    /// The level whose members a failure domain keeps distinct.
    pub(crate) fn of(domain: FailureDomain) -> Level {
        match domain {
            FailureDomain::Host => Level::Host,
            FailureDomain::Osd => Level::Osd,
        }
    }
}

/// Index of a node in [`Hierarchy::nodes`].
pub(crate) type NodeIndex = u32;

/// Index of the root node.
pub(crate) const ROOT: NodeIndex = 0;

/// One node of the tree: a bucket or an OSD.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The node's level.
    pub(crate) level: Level,
    /// Bucket name (host name); empty for the root and for OSDs.
    pub(crate) name: String,
    /// The OSD this leaf is; `None` for buckets.
    pub(crate) osd: Option<OsdId>,
    /// Whether this leaf is `in`, i.e. may hold data. Always true for buckets.
    pub(crate) is_in: bool,
    /// The parent bucket; the root is its own parent.
    pub(crate) parent: NodeIndex,
    /// This node's index in its parent's `children` (0 for the root).
    pub(crate) rank: u32,
    /// Weight: the OSD's weight, or the sum of the children's.
    pub(crate) weight: u64,
    /// Weight of the `in` OSDs at or below this node.
    pub(crate) in_weight: u64,
    /// Straw2 candidates, one per child, in the same order as `children`.
    pub(crate) candidates: Vec<Candidate>,
    /// Child node indices.
    pub(crate) children: Vec<NodeIndex>,
}

impl Node {
    /// Whether this node is a leaf (an OSD).
    pub(crate) fn is_leaf(&self) -> bool {
        self.osd.is_some()
    }
}

/// One OSD as given to the builder.
#[derive(Debug, Clone)]
struct OsdSpec {
    host: String,
    weight: OsdWeight,
    is_in: bool,
}

/// The weighted placement tree of a cluster: root → host → OSD.
///
/// Build it once per map epoch with [`Hierarchy::from_map`] (or
/// [`Hierarchy::builder`] in tests and tools) and call [`Hierarchy::place`] for each
/// PG. Immutable and cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// Arena of nodes; index 0 is the root.
    pub(crate) nodes: Vec<Node>,
    /// Leaf node of every OSD.
    pub(crate) leaf_of: BTreeMap<OsdId, NodeIndex>,
}

/// Builds a [`Hierarchy`] from individual OSDs. Order of calls does not matter.
#[derive(Debug, Clone, Default)]
pub struct HierarchyBuilder {
    osds: Vec<(OsdId, OsdSpec)>,
}

impl HierarchyBuilder {
    /// An empty builder.
    pub fn new() -> HierarchyBuilder {
        HierarchyBuilder::default()
    }

    /// Adds an `in` OSD on `host` with the given weight.
    pub fn osd(&mut self, host: &str, id: OsdId, weight: OsdWeight) -> &mut HierarchyBuilder {
        self.add(host, id, weight, true)
    }

    /// Adds an `out` OSD on `host`: it keeps its weight in the tree but is never chosen.
    pub fn out_osd(&mut self, host: &str, id: OsdId, weight: OsdWeight) -> &mut HierarchyBuilder {
        self.add(host, id, weight, false)
    }

    fn add(
        &mut self,
        host: &str,
        id: OsdId,
        weight: OsdWeight,
        is_in: bool,
    ) -> &mut HierarchyBuilder {
        let spec = OsdSpec {
            host: host.to_string(),
            weight,
            is_in,
        };
        self.osds.push((id, spec));
        self
    }

    /// Builds the tree. Fails if an OSD id was added twice.
    pub fn build(&self) -> Result<Hierarchy, HierarchyError> {
        let mut by_id = BTreeMap::new();
        for (id, spec) in &self.osds {
            if by_id.insert(*id, spec).is_some() {
                return Err(HierarchyError::DuplicateOsd(*id));
            }
        }
        Ok(Hierarchy::from_specs(by_id))
    }
}

impl Hierarchy {
    /// A builder for a tree given OSD by OSD.
    pub fn builder() -> HierarchyBuilder {
        HierarchyBuilder::new()
    }

    /// The tree of a cluster map: one host bucket per distinct `OsdInfo::host`, each
    /// OSD weighted by `OsdInfo::weight`, `in` as `OsdInfo::in_cluster`. Up/down is not
    /// a placement input. OSDs are identified by their key in `map.osds`.
    pub fn from_map(map: &ClusterMap) -> Hierarchy {
        let specs: Vec<(OsdId, OsdSpec)> = map
            .osds
            .iter()
            .map(|(id, info)| {
                let spec = OsdSpec {
                    host: info.host.clone(),
                    weight: info.weight,
                    is_in: info.in_cluster,
                };
                (*id, spec)
            })
            .collect();
        Hierarchy::from_specs(specs.iter().map(|(id, spec)| (*id, spec)).collect())
    }

    fn from_specs(specs: BTreeMap<OsdId, &OsdSpec>) -> Hierarchy {
        // Hosts by name, each with its OSDs by id (the BTreeMaps give both orders).
        let mut hosts: BTreeMap<&str, Vec<(OsdId, &OsdSpec)>> = BTreeMap::new();
        for (id, spec) in &specs {
            hosts
                .entry(spec.host.as_str())
                .or_default()
                .push((*id, spec));
        }

        let mut nodes = vec![Node {
            level: Level::Root,
            name: String::new(),
            osd: None,
            is_in: true,
            parent: ROOT,
            rank: 0,
            weight: 0,
            in_weight: 0,
            candidates: Vec::with_capacity(hosts.len()),
            children: Vec::with_capacity(hosts.len()),
        }];
        let mut leaf_of = BTreeMap::new();
        let mut host_keys: Vec<u32> = Vec::with_capacity(hosts.len());

        for (host, osds) in hosts {
            let host_index = nodes.len() as NodeIndex;
            let mut host_node = Node {
                level: Level::Host,
                name: host.to_string(),
                osd: None,
                is_in: true,
                parent: ROOT,
                rank: nodes[ROOT as usize].children.len() as u32,
                weight: 0,
                in_weight: 0,
                candidates: Vec::with_capacity(osds.len()),
                children: Vec::with_capacity(osds.len()),
            };
            let mut leaves = Vec::with_capacity(osds.len());
            for (id, spec) in osds {
                let weight = u64::from(spec.weight.0);
                let in_weight = if spec.is_in { weight } else { 0 };
                let leaf_index = host_index + 1 + leaves.len() as NodeIndex;
                host_node.weight += weight;
                host_node.in_weight += in_weight;
                host_node.candidates.push(Candidate { key: id.0, weight });
                host_node.children.push(leaf_index);
                leaf_of.insert(id, leaf_index);
                leaves.push(Node {
                    level: Level::Osd,
                    name: String::new(),
                    osd: Some(id),
                    is_in: spec.is_in,
                    parent: host_index,
                    rank: leaves.len() as u32,
                    weight,
                    in_weight,
                    candidates: Vec::new(),
                    children: Vec::new(),
                });
            }
            let key = unique_bucket_key(host, &host_keys);
            host_keys.push(key);
            let root = &mut nodes[ROOT as usize];
            root.weight += host_node.weight;
            root.in_weight += host_node.in_weight;
            root.candidates.push(Candidate {
                key,
                weight: host_node.weight,
            });
            root.children.push(host_index);
            nodes.push(host_node);
            nodes.extend(leaves);
        }

        Hierarchy { nodes, leaf_of }
    }

    /// The node at `index`.
    #[inline]
    pub(crate) fn node(&self, index: NodeIndex) -> &Node {
        &self.nodes[index as usize]
    }

    /// The host an OSD is on, if the OSD is in the tree.
    pub fn host_of(&self, osd: OsdId) -> Option<&str> {
        let leaf = *self.leaf_of.get(&osd)?;
        Some(self.node(self.node(leaf).parent).name.as_str())
    }

    /// How many failure domains of the given kind could hold a member: hosts with at
    /// least one `in` OSD of positive weight, or such OSDs. A pool of width `w` gets
    /// complete placements exactly when this is at least `w`.
    pub fn eligible_domains(&self, domain: FailureDomain) -> usize {
        let level = Level::of(domain);
        self.nodes
            .iter()
            .filter(|n| n.level == level && n.in_weight > 0)
            .count()
    }

    /// The acting set of `pg` in `pool`; see [`crate::choose`] for the algorithm.
    ///
    /// `pg.pool` should be `pool.id`; the pool supplies the width (`size` or `k + m`)
    /// and the failure domain, and the pool should be valid (`Pool::validate`).
    pub fn place(&self, pool: &cuttle_types::Pool, pg: cuttle_types::PgId) -> Placement {
        debug_assert_eq!(pg.pool, pool.id, "PG {pg} placed with the wrong pool");
        crate::choose::place(
            self,
            crate::pg::pg_input(pg),
            pool.redundancy.width() as usize,
            pool.failure_domain,
            crate::choose::order_of(&pool.redundancy),
        )
    }
}

/// A hash key for bucket `name` that differs from every key in `taken`.
fn unique_bucket_key(name: &str, taken: &[u32]) -> u32 {
    let mut key = hash_bytes(name.as_bytes(), SEED_BUCKET_KEY);
    while taken.contains(&key) {
        key = hash_bytes(name.as_bytes(), key);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_up_the_tree_and_order_is_canonical() {
        let mut b = Hierarchy::builder();
        b.osd("h2", OsdId(5), OsdWeight(3))
            .out_osd("h1", OsdId(9), OsdWeight(4))
            .osd("h1", OsdId(1), OsdWeight(2))
            .osd("h2", OsdId(0), OsdWeight::ZERO);
        let h = b.build().expect("valid");
        let root = h.node(ROOT);
        assert_eq!(root.weight, 9);
        let hosts: Vec<_> = root.children.iter().map(|&c| h.node(c)).collect();
        assert_eq!(hosts[0].name, "h1");
        assert_eq!(hosts[0].weight, 6);
        assert_eq!(hosts[1].name, "h2");
        let h1_osds: Vec<_> = hosts[0].children.iter().map(|&c| h.node(c).osd).collect();
        assert_eq!(h1_osds, vec![Some(OsdId(1)), Some(OsdId(9))]);
        assert_eq!(h.host_of(OsdId(0)), Some("h2"));
        assert_eq!(h.host_of(OsdId(9)), Some("h1"));
        assert_eq!(h.host_of(OsdId(7)), None);
        assert_eq!(
            (root.in_weight, hosts[0].in_weight, hosts[1].in_weight),
            (5, 2, 3)
        );
        assert_eq!(h.eligible_domains(FailureDomain::Osd), 2);
        assert_eq!(h.eligible_domains(FailureDomain::Host), 2);
    }

    #[test]
    fn duplicate_osd_is_an_error() {
        let mut b = Hierarchy::builder();
        b.osd("a", OsdId(1), OsdWeight::ONE)
            .osd("b", OsdId(1), OsdWeight::ONE);
        assert_eq!(
            b.build().err(),
            Some(HierarchyError::DuplicateOsd(OsdId(1)))
        );
    }

    #[test]
    fn colliding_bucket_keys_are_made_unique() {
        let first = unique_bucket_key("x", &[]);
        let second = unique_bucket_key("x", &[first]);
        assert_ne!(first, second);
        assert_eq!(unique_bucket_key("x", &[]), first);
    }
}
