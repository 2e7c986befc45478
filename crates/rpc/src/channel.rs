//! Endpoint settings shared by every client and server, and whether they speak TLS.
//!
//! Servers are built by [`server`] (with the daemon's [`ServerTls`] when configured) and
//! accept from [`incoming`]; clients dial with [`lazy_channel`] and a [`ChannelConfig`],
//! which every process builds once from its configuration and hands to whatever dials.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::tls::{ClientTls, ServerTls};

/// Largest message a Cuttle service accepts or sends (object data travels in messages
/// up to an EC chunk of a 64 MiB object plus headers).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;
/// Time allowed to establish a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// HTTP/2 flow-control window per stream. The 64 KiB default makes a 4 MiB message
/// wait for ~64 window updates; object data wants whole messages in flight.
pub const STREAM_WINDOW: u32 = 16 << 20;
/// HTTP/2 flow-control window per connection.
pub const CONNECTION_WINDOW: u32 = 64 << 20;
/// Largest HTTP/2 frame (the default 16 KiB cuts a 4 MiB message into 256 frames).
pub const MAX_FRAME: u32 = 1 << 20;

/// How a process dials Cuttle services: plaintext HTTP/2 (the default) or TLS trusting
/// one CA bundle. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ChannelConfig {
    tls: Option<ClientTls>,
}

impl ChannelConfig {
    /// Plaintext (`http://`).
    pub fn plaintext() -> ChannelConfig {
        ChannelConfig { tls: None }
    }

    /// TLS (`https://`), verifying servers against `tls`'s CA bundle.
    pub fn tls(tls: ClientTls) -> ChannelConfig {
        ChannelConfig { tls: Some(tls) }
    }

    /// TLS when `tls` is given, else plaintext.
    pub fn from_tls(tls: Option<ClientTls>) -> ChannelConfig {
        ChannelConfig { tls }
    }

    /// The TLS settings, when dialling with TLS.
    pub fn client_tls(&self) -> Option<&ClientTls> {
        self.tls.as_ref()
    }
}

/// A server builder with Cuttle's transport settings, serving TLS when `tls` is given.
pub fn server(
    tls: Option<&ServerTls>,
) -> Result<tonic::transport::Server, tonic::transport::Error> {
    let builder = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME);
    match tls {
        Some(t) => builder.tls_config(t.config()),
        None => Ok(builder),
    }
}

/// The connections a server accepts on `listener`, with `TCP_NODELAY` set.
///
/// `serve_with_incoming` ignores the builder's `tcp_nodelay`, and without it a reply
/// whose trailers follow its message in a second small write waits for the client's
/// delayed ACK (Nagle): ~40 ms added to every successful unary call.
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// A lazily connecting channel to `addr` (`host:port`; a leading `http://` or
/// `https://` is ignored: `config` decides). With TLS, the server's certificate must
/// chain to the configured CA and name the host of `addr` (a DNS name or an IP SAN).
pub fn lazy_channel(
    addr: &str,
    config: &ChannelConfig,
) -> Result<Channel, tonic::transport::Error> {
    let host = addr
        .strip_prefix("http://")
        .or_else(|| addr.strip_prefix("https://"))
        .unwrap_or(addr);
    let endpoint = match &config.tls {
        Some(tls) => Endpoint::from_shared(format!("https://{host}"))?.tls_config(tls.config())?,
        None => Endpoint::from_shared(format!("http://{host}"))?,
    };
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .connect_lazy())
}
