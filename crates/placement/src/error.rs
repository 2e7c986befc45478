//! Errors of this crate.

use cuttle_types::OsdId;

/// Why a [`crate::Hierarchy`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HierarchyError {
    /// The same OSD id was added twice.
    #[error("{0} was added to the placement hierarchy twice")]
    DuplicateOsd(OsdId),
}

impl HierarchyError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            HierarchyError::DuplicateOsd(_) => "placement.duplicate_osd",
        }
    }
}
