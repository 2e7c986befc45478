//! Endpoint settings shared by every client and server.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// Largest message a Cuttle service accepts or sends (object data travels in messages
/// up to an EC chunk of a 64 MiB object plus headers).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;
/// Time allowed to establish a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A lazily connecting channel to `addr` (`host:port`, `http://` implied).
pub fn lazy_channel(addr: &str) -> Result<Channel, tonic::transport::Error> {
    let uri = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    Ok(Endpoint::from_shared(uri)?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .connect_lazy())
}
