//! `cuttle osd tree` (hosts and their OSDs, from the cluster map) and
//! `cuttle osd out|in|down N` (hand-made state changes, answered with the new epoch).
//!
//! JSON shapes: tree `{epoch, hosts: [{name, osds: [{id, weight, up, in, addr}]}]}`
//! (hosts by name, OSDs by id, weight as a decimal); a state change
//! `{osd, change, epoch}`.

use std::collections::BTreeMap;

use anyhow::Result;
use cuttle_proto as pb;
use cuttle_types::{ClusterMap, OsdId, OsdWeight};
use serde::Serialize;

use crate::ctx::{Ctx, failed};
use crate::output::{self, Report, Table};

/// An OSD id as typed: `3` or `osd.3`.
pub fn parse_osd_id(s: &str) -> Result<OsdId, String> {
    let digits = s.strip_prefix("osd.").unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{s:?} is not an OSD id (expected a number such as 3 or osd.3)"
        ));
    }
    digits
        .parse::<u32>()
        .map(OsdId)
        .map_err(|_| format!("OSD id {s:?} is too large"))
}

/// One OSD in the tree.
#[derive(Debug, Clone, Serialize)]
pub struct TreeOsd {
    /// OSD id.
    pub id: u32,
    /// Placement weight as a decimal (1.0 = 0x10000).
    pub weight: f64,
    /// Running and heartbeating.
    pub up: bool,
    /// Part of data placement.
    #[serde(rename = "in")]
    pub in_cluster: bool,
    /// Its gRPC endpoint (empty until it boots).
    pub addr: String,
}

/// One host and its OSDs.
#[derive(Debug, Clone, Serialize)]
pub struct TreeHost {
    /// Host name.
    pub name: String,
    /// Its OSDs by id.
    pub osds: Vec<TreeOsd>,
}

/// `cuttle osd tree`.
#[derive(Debug, Clone, Serialize)]
pub struct TreeView {
    /// Map epoch the tree was read at.
    pub epoch: u64,
    /// Hosts by name.
    pub hosts: Vec<TreeHost>,
    /// Exact per-host weight sums, for the table.
    #[serde(skip)]
    host_weights: Vec<u64>,
}

impl From<&ClusterMap> for TreeView {
    fn from(map: &ClusterMap) -> Self {
        let mut hosts: BTreeMap<&str, (u64, Vec<TreeOsd>)> = BTreeMap::new();
        for o in map.osds.values() {
            let h = hosts.entry(o.host.as_str()).or_default();
            h.0 += u64::from(o.weight.0);
            h.1.push(TreeOsd {
                id: o.id.0,
                weight: o.weight.as_f64(),
                up: o.up,
                in_cluster: o.in_cluster,
                addr: o.addr.clone(),
            });
        }
        let host_weights = hosts.values().map(|(w, _)| *w).collect();
        TreeView {
            epoch: map.epoch.0,
            hosts: hosts
                .into_iter()
                .map(|(name, (_, osds))| TreeHost {
                    name: name.to_string(),
                    osds,
                })
                .collect(),
            host_weights,
        }
    }
}

/// A 16.16 weight sum as a decimal with five places.
fn weight_text(raw: u64) -> String {
    format!("{:.5}", raw as f64 / f64::from(OsdWeight::ONE.0))
}

impl Report for TreeView {
    fn table(&self) -> String {
        let mut t = Table::new(&["ID", "WEIGHT", "TYPE NAME", "STATUS", "IN", "ADDRESS"])
            .right(0)
            .right(1);
        let total: u64 = self.host_weights.iter().sum();
        t.row(vec![
            String::new(),
            weight_text(total),
            "root default".into(),
        ]);
        for (host, weight) in self.hosts.iter().zip(&self.host_weights) {
            t.row(vec![
                String::new(),
                weight_text(*weight),
                format!("    host {}", host.name),
            ]);
            for o in &host.osds {
                t.row(vec![
                    o.id.to_string(),
                    format!("{:.5}", o.weight),
                    format!("        osd.{}", o.id),
                    if o.up { "up" } else { "down" }.into(),
                    if o.in_cluster { "in" } else { "out" }.into(),
                    o.addr.clone(),
                ]);
            }
        }
        format!("map epoch {}\n{}", self.epoch, t.render())
    }
}

/// A state change's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeView {
    /// The OSD.
    pub osd: u32,
    /// `out`, `in`, `down` or `purged`.
    pub change: &'static str,
    /// Map epoch after the change.
    pub epoch: u64,
}

impl Report for ChangeView {
    fn table(&self) -> String {
        let verb = if self.change == "purged" {
            ""
        } else {
            "marked "
        };
        format!(
            "{verb}osd.{} {}; map epoch {}\n",
            self.osd, self.change, self.epoch
        )
    }
}

/// Runs `cuttle osd tree`.
pub async fn tree(ctx: &Ctx) -> Result<()> {
    let map = ctx.fresh_map().await?;
    output::emit(ctx.format, &TreeView::from(&map))
}

/// The new OSD of `cuttle osd add`.
#[derive(Debug, Clone, Serialize)]
pub struct AddedView {
    /// Its id.
    pub osd: u32,
    /// Its simulated host.
    pub host: String,
    /// Its gRPC address.
    pub addr: String,
}

impl Report for AddedView {
    fn table(&self) -> String {
        format!(
            "added osd.{} on host {} at {}; placement groups move to it as it joins (see `cuttle status`)\n",
            self.osd, self.host, self.addr
        )
    }
}

/// Runs `cuttle osd add`: a new OSD with its own file-backed device in the local
/// cluster directory `dir`, registered and started; data rebalances onto it.
pub async fn add(
    ctx: &Ctx,
    dir: &std::path::Path,
    host: Option<&str>,
    size: Option<u64>,
) -> Result<()> {
    use crate::ctx::cluster_failed;
    let dir = crate::cmd_cluster::absolute(dir)?;
    let mut cluster = cuttle_cluster::LocalCluster::open(&dir)
        .map_err(|e| cluster_failed("opening the local cluster", &e))?;
    let name = cluster
        .add_osd(host, size)
        .await
        .map_err(|e| cluster_failed("adding an OSD", &e))?;
    let osd = cluster.layout().local.osds.get(&name).cloned();
    let id = parse_osd_id(&name).map_err(anyhow::Error::msg)?;
    output::emit(
        ctx.format,
        &AddedView {
            osd: id.0,
            host: osd.as_ref().map_or_else(String::new, |o| o.host.clone()),
            addr: osd.map_or_else(String::new, |o| o.addr),
        },
    )
}

/// Runs `cuttle osd purge N --yes-i-really-mean-it`: removes a down, out OSD from the
/// map for good (after its data has moved: check `cuttle status` shows no degraded PGs).
pub async fn purge(ctx: &Ctx, osd: OsdId, confirmed: bool) -> Result<()> {
    if !confirmed {
        anyhow::bail!(
            "purging {osd} forgets it and its data for good; mark it out, wait for \
             active+clean, stop it, then repeat with --yes-i-really-mean-it (not_confirmed)"
        );
    }
    let epoch = ctx
        .client()?
        .purge_osd(osd)
        .await
        .map_err(|e| failed(format_args!("purging {osd}"), &e))?;
    output::emit(
        ctx.format,
        &ChangeView {
            osd: osd.0,
            change: "purged",
            epoch: epoch.0,
        },
    )
}

/// Runs `cuttle osd out|in|down N`.
pub async fn set_state(ctx: &Ctx, osd: OsdId, change: pb::OsdStateChange) -> Result<()> {
    let word = match change {
        pb::OsdStateChange::Out => "out",
        pb::OsdStateChange::In => "in",
        pb::OsdStateChange::Down => "down",
        pb::OsdStateChange::Unspecified => "unspecified",
    };
    let epoch = ctx
        .client()?
        .set_osd_state(osd, change)
        .await
        .map_err(|e| failed(format_args!("marking {osd} {word}"), &e))?;
    output::emit(
        ctx.format,
        &ChangeView {
            osd: osd.0,
            change: word,
            epoch: epoch.0,
        },
    )
}

#[cfg(test)]
mod tests {
    use cuttle_types::{Epoch, OsdInfo};
    use uuid::Uuid;

    use super::*;

    fn osd(id: u32, host: &str, weight: OsdWeight, up: bool, in_cluster: bool) -> OsdInfo {
        OsdInfo {
            id: OsdId(id),
            uuid: Uuid::from_u128(u128::from(id) + 1),
            host: host.into(),
            addr: format!("127.0.0.1:{}", 6800 + id),
            weight,
            up,
            in_cluster,
            down_since: None,
        }
    }

    #[test]
    fn osd_ids_parse_with_or_without_prefix() {
        assert_eq!(parse_osd_id("3"), Ok(OsdId(3)));
        assert_eq!(parse_osd_id("osd.12"), Ok(OsdId(12)));
        for bad in [
            "",
            "osd.",
            "-1",
            "+1",
            "osd.x",
            "3 ",
            "mon.1",
            "99999999999",
        ] {
            assert!(parse_osd_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_tree_groups_osds_under_sorted_hosts() {
        let mut map = ClusterMap::new(Uuid::from_u128(1));
        map.epoch = Epoch(9);
        for o in [
            osd(2, "hostb", OsdWeight::ONE, true, true),
            osd(0, "hosta", OsdWeight::ONE, true, true),
            osd(1, "hosta", OsdWeight(0x8000), false, false),
        ] {
            map.osds.insert(o.id, o);
        }
        let v = TreeView::from(&map);
        let t = v.table();
        assert_eq!(
            t,
            "map epoch 9\n\
             ID   WEIGHT  TYPE NAME       STATUS  IN   ADDRESS\n\
             \x20   2.50000  root default\n\
             \x20   1.50000      host hosta\n\
             \x200  1.00000          osd.0   up      in   127.0.0.1:6800\n\
             \x201  0.50000          osd.1   down    out  127.0.0.1:6801\n\
             \x20   1.00000      host hostb\n\
             \x202  1.00000          osd.2   up      in   127.0.0.1:6802\n"
        );
        let json = serde_json::to_value(&v).unwrap_or_default();
        assert_eq!(json["epoch"], 9);
        assert_eq!(json["hosts"][0]["name"], "hosta");
        assert_eq!(json["hosts"][0]["osds"][1]["weight"], 0.5);
        assert_eq!(json["hosts"][0]["osds"][1]["in"], false);
        assert_eq!(json["hosts"][1]["osds"][0]["id"], 2);
    }

    #[test]
    fn an_empty_map_has_only_the_root() {
        let v = TreeView::from(&ClusterMap::new(Uuid::from_u128(1)));
        assert_eq!(
            v.table(),
            "map epoch 0\nID   WEIGHT  TYPE NAME     STATUS  IN  ADDRESS\n    0.00000  root default\n"
        );
        assert_eq!(
            serde_json::to_value(&v).unwrap_or_default(),
            serde_json::json!({"epoch": 0, "hosts": []})
        );
    }
}
