//! One TCP connection to a peer: the outgoing connect attempt, a reader task that frames and
//! decodes messages, and a writer task that sends encoded messages in order.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{sockopt, transport};
use crate::fsm::ConnId;
use crate::model::PeerSpec;
use crate::packet::codec::{self, CodecParams};
use crate::packet::message::{Message, Notification};

/// What a connection's tasks report to the peer task.
#[derive(Debug)]
pub enum ConnEvent {
    /// The outgoing attempt completed.
    Connected(TcpStream),
    /// The outgoing attempt failed.
    ConnectFailed(io::Error),
    /// A whole message was decoded.
    Message(Message),
    /// The codec rejected what the peer sent; the NOTIFICATION to send.
    DecodeError(Notification),
    /// The connection closed (None: the peer closed it cleanly).
    Closed(Option<io::Error>),
}

/// Sender of connection events, tagged with the connection they belong to.
pub type EventTx = mpsc::UnboundedSender<(ConnId, ConnEvent)>;

/// What the writer task is asked to do.
#[derive(Debug)]
pub enum WriteCmd {
    Data(Bytes),
    /// Flush what was queued, shut the connection down and end.
    Close,
}

/// A live connection: its endpoints and the handles of its two tasks.
#[derive(Debug)]
pub struct Conn {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub writer: mpsc::UnboundedSender<WriteCmd>,
    pub writer_task: JoinHandle<()>,
    pub reader_task: JoinHandle<()>,
}

impl Conn {
    /// Splits the stream and starts the reader and writer tasks. `extended`: we offer extended
    /// messages (RFC 8654), so UPDATEs up to 65535 bytes are accepted once OPENs are exchanged.
    /// `ibgp`: the peer is in our AS (how LOCAL_PREF is handled, RFC 7606 §7.5).
    pub fn start(
        id: ConnId,
        stream: TcpStream,
        events: EventTx,
        extended: bool,
        ibgp: bool,
    ) -> io::Result<Conn> {
        let local = stream.local_addr()?;
        let remote = stream.peer_addr()?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let writer_task = tokio::spawn(write_loop(id, write, rx, events.clone()));
        let reader_task = tokio::spawn(read_loop(id, read, events, extended, ibgp));
        Ok(Conn {
            local,
            remote,
            writer: tx,
            writer_task,
            reader_task,
        })
    }

    /// Queues bytes for sending.
    pub fn send(&self, data: Bytes) {
        let _ = self.writer.send(WriteCmd::Data(data));
    }

    /// Stops reading now; the writer flushes what is queued, then closes.
    pub fn close(self) -> JoinHandle<()> {
        self.reader_task.abort();
        let _ = self.writer.send(WriteCmd::Close);
        self.writer_task
    }
}

async fn write_loop(
    id: ConnId,
    mut write: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<WriteCmd>,
    events: EventTx,
) {
    while let Some(cmd) = rx.recv().await {
        match cmd {
            WriteCmd::Data(data) => {
                if let Err(e) = write.write_all(&data).await {
                    let _ = events.send((id, ConnEvent::Closed(Some(e))));
                    return;
                }
            }
            WriteCmd::Close => break,
        }
    }
    let _ = write.shutdown().await;
}

async fn read_loop(
    id: ConnId,
    mut read: OwnedReadHalf,
    events: EventTx,
    extended: bool,
    ibgp: bool,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut params = CodecParams {
        ibgp,
        ..CodecParams::default()
    };
    loop {
        loop {
            match codec::decode(&mut buf, &params) {
                Ok(Some(msg)) => {
                    if let Message::Open(open) = &msg {
                        // We always offer 4-octet AS; the peer's OPEN decides the AS_PATH width.
                        params.four_octet_as = open.capabilities.four_octet_as.is_some();
                        if extended && open.capabilities.extended_message {
                            params.max_message_len = codec::MAX_EXTENDED_MESSAGE_LEN;
                        }
                    }
                    if events.send((id, ConnEvent::Message(msg))).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(notification) => {
                    let _ = events.send((id, ConnEvent::DecodeError(notification)));
                    return;
                }
            }
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = events.send((id, ConnEvent::Closed(None)));
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = events.send((id, ConnEvent::Closed(Some(e))));
                return;
            }
        }
    }
}

/// Starts an outgoing connection attempt to the peer (`ibgp`: in our own AS, which decides the
/// default TTL); the result arrives as a `ConnEvent`.
pub fn connect(id: ConnId, peer: &PeerSpec, ibgp: bool, events: EventTx) -> JoinHandle<()> {
    let peer = peer.clone();
    tokio::spawn(async move {
        let event = match dial(&peer, ibgp).await {
            Ok(stream) => ConnEvent::Connected(stream),
            Err(e) => ConnEvent::ConnectFailed(e),
        };
        let _ = events.send((id, event));
    })
}

async fn dial(peer: &PeerSpec, ibgp: bool) -> io::Result<TcpStream> {
    let remote = SocketAddr::new(peer.address, peer.port);
    let socket = match peer.address {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    prepare_socket(&socket, peer, ibgp)?;
    if let Some(src) = peer.source_address {
        socket.bind(SocketAddr::new(src, 0))?;
    }
    socket.connect(remote).await
}

/// Applies the per-peer transport options (TCP MD5, TTL / GTSM) to a socket we connect from.
pub fn prepare_socket(socket: &impl AsRawFd, peer: &PeerSpec, ibgp: bool) -> io::Result<()> {
    if let Some(password) = &peer.password {
        sockopt::set_md5_key(socket, peer.address, Some(password))?;
    }
    transport::apply_session(
        socket,
        peer.address.is_ipv6(),
        transport::session_ttl(peer, ibgp),
    )
}

/// Checks a connection the listener accepted from the peer against its TTL / GTSM rule and
/// applies it, before anything is sent on it (the TCP MD5 key came with the listener: RFC 2385
/// signs the handshake already).
pub fn prepare_accepted(
    stream: &TcpStream,
    peer: &PeerSpec,
    ibgp: bool,
) -> Result<(), transport::Refused> {
    transport::check_syn(
        stream,
        peer.address.is_ipv6(),
        transport::session_ttl(peer, ibgp),
    )
}
