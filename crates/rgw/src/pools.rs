//! `Pools`: the three pools a gateway works in, opened once from a cluster connection.

use cuttle_client::{Cluster, IoCtx};
use serde::{Deserialize, Serialize};

use crate::error::{RgwError, RgwResult};

/// Names of the gateway pools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolNames {
    /// Users, keys, tokens, bucket records (replicated).
    pub meta: String,
    /// Bucket indexes and multipart state (replicated: omap).
    pub index: String,
    /// Object data (erasure-coded normally).
    pub data: String,
}

impl Default for PoolNames {
    fn default() -> Self {
        PoolNames {
            meta: ".rgw.meta".into(),
            index: ".rgw.index".into(),
            data: ".rgw.data".into(),
        }
    }
}

/// Open handles on the gateway pools.
#[derive(Debug, Clone)]
pub struct Pools {
    /// `.rgw.meta`.
    pub meta: IoCtx,
    /// `.rgw.index`.
    pub index: IoCtx,
    /// `.rgw.data`.
    pub data: IoCtx,
}

async fn open(cluster: &Cluster, name: &str) -> RgwResult<IoCtx> {
    cluster.pool(name).await.map_err(|e| {
        if e.code() == "no_such_pool" {
            RgwError::NoPool(name.to_string())
        } else {
            RgwError::Cluster(e)
        }
    })
}

impl Pools {
    /// Opens the three pools.
    pub async fn open(cluster: &Cluster, names: &PoolNames) -> RgwResult<Pools> {
        Ok(Pools {
            meta: open(cluster, &names.meta).await?,
            index: open(cluster, &names.index).await?,
            data: open(cluster, &names.data).await?,
        })
    }
}
