//! The result of placing one PG: which OSD holds each member position.

use cuttle_types::OsdId;
use serde::{Deserialize, Serialize};

/// The members chosen for one PG.
///
/// `members` has exactly the pool's width (`size` or `k + m`). For an erasure-coded pool
/// index `i` is shard `i` and a `None` is a shard with no OSD; for a replicated pool the
/// members come primary first and any `None`s are at the end. A placement with a `None`
/// is *degraded*: the map has fewer usable failure domains than the pool needs, and the
/// placement never doubles up on a domain to hide it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Placement {
    /// The OSD of each member position, `None` where no OSD could be chosen.
    pub members: Vec<Option<OsdId>>,
}

impl Placement {
    /// The number of member positions (the pool's width).
    pub fn width(&self) -> usize {
        self.members.len()
    }

    /// The primary: the first present member.
    pub fn primary(&self) -> Option<OsdId> {
        self.members.iter().flatten().next().copied()
    }

    /// Whether every position has an OSD.
    pub fn is_complete(&self) -> bool {
        self.members.iter().all(Option::is_some)
    }

    /// The present members, in position order.
    pub fn osds(&self) -> impl Iterator<Item = OsdId> + '_ {
        self.members.iter().flatten().copied()
    }

    /// The positions without an OSD.
    pub fn missing(&self) -> impl Iterator<Item = usize> + '_ {
        self.members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.is_none())
            .map(|(i, _)| i)
    }

    /// The position `osd` holds, if it is a member.
    pub fn position_of(&self, osd: OsdId) -> Option<usize> {
        self.members.iter().position(|m| *m == Some(osd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        let p = Placement {
            members: vec![None, Some(OsdId(4)), Some(OsdId(2)), None],
        };
        assert_eq!(p.width(), 4);
        assert_eq!(p.primary(), Some(OsdId(4)));
        assert!(!p.is_complete());
        assert_eq!(p.osds().collect::<Vec<_>>(), vec![OsdId(4), OsdId(2)]);
        assert_eq!(p.missing().collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(p.position_of(OsdId(2)), Some(2));
        assert_eq!(p.position_of(OsdId(9)), None);
        let empty = Placement { members: vec![] };
        assert!(empty.is_complete());
        assert_eq!(empty.primary(), None);
    }
}
