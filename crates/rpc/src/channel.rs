//! Endpoint settings shared by every client and server.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

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

/// A server builder with Cuttle's transport settings.
pub fn server() -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME)
}

/// The connections a server accepts on `listener`, with `TCP_NODELAY` set.
///
/// `serve_with_incoming` ignores the builder's `tcp_nodelay`, and without it a reply
/// whose trailers follow its message in a second small write waits for the client's
/// delayed ACK (Nagle): ~40 ms added to every successful unary call.
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

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
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .connect_lazy())
}
