//! Connections to other OSDs, by id, re-created when an OSD's address changes.

use std::collections::HashMap;

use cuttle_proto::osd_client::OsdClient;
use cuttle_rpc::{ChannelConfig, ClientAuth, ClusterSecret};
use cuttle_types::OsdId;
use parking_lot::Mutex;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::error::{OsdError, OsdResult};

/// A signed client to an OSD.
pub type PeerClient = OsdClient<InterceptedService<Channel, ClientAuth>>;

/// Builds a signed OSD client for `addr`.
pub fn osd_client(
    addr: &str,
    secret: &ClusterSecret,
    channels: &ChannelConfig,
) -> Result<PeerClient, tonic::transport::Error> {
    let ch = cuttle_rpc::channel::lazy_channel(addr, channels)?;
    Ok(
        OsdClient::with_interceptor(ch, ClientAuth::new(secret.clone()))
            .max_decoding_message_size(cuttle_rpc::channel::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(cuttle_rpc::channel::MAX_MESSAGE_BYTES),
    )
}

/// Cached clients to peer OSDs.
#[derive(Debug)]
pub struct Peers {
    secret: ClusterSecret,
    channels: ChannelConfig,
    clients: Mutex<HashMap<OsdId, (String, PeerClient)>>,
}

impl Peers {
    /// An empty cache; clients sign with `secret` and dial with `channels`.
    pub fn new(secret: ClusterSecret, channels: ChannelConfig) -> Peers {
        Peers {
            secret,
            channels,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// A client for `osd` at `addr`.
    pub fn get(&self, osd: OsdId, addr: &str) -> OsdResult<PeerClient> {
        let mut clients = self.clients.lock();
        if let Some((a, c)) = clients.get(&osd)
            && a == addr
        {
            return Ok(c.clone());
        }
        let c = osd_client(addr, &self.secret, &self.channels).map_err(|e| OsdError::Peer {
            osd,
            message: format!("bad address {addr:?}: {e}"),
        })?;
        clients.insert(osd, (addr.to_string(), c.clone()));
        Ok(c)
    }
}
