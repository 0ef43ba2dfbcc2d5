//! One TCP connection to a peer: the outgoing connect attempt, a reader task that frames and
//! decodes messages, and a writer task that sends encoded messages in order.
//!
//! What a peer can make a connection hold is bounded: the reader hands at most
//! [`EVENT_QUEUE`] decoded messages to the peer task and then waits (TCP back-pressure on a
//! fast sender); the writer's queue is bounded in bytes ([`SendQueue`]), and a peer that
//! stops reading until it is full gets its connection reset. A close flushes for at most
//! [`CLOSE_GRACE`], then resets.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
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
pub type EventTx = mpsc::Sender<(ConnId, ConnEvent)>;
/// Its receiving end, in the peer task.
pub type EventRx = mpsc::Receiver<(ConnId, ConnEvent)>;

/// Decoded messages (and other events) a peer's connections may have waiting for its task.
/// A decoded UPDATE is at most ~1.2 MB (65535 bytes of 1-byte /0 NLRI, 18 bytes each decoded),
/// ~75 KB for a 4096-byte one.
pub const EVENT_QUEUE: usize = 8;

/// How long a closing connection may take to flush what is queued before it is reset.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The event channel of one peer task.
pub fn event_channel() -> (EventTx, EventRx) {
    mpsc::channel(EVENT_QUEUE)
}

/// The bytes queued for a connection's writer and not yet written to the socket, against a
/// limit. Once a reservation fails the queue stays full: nothing more is queued and the peer
/// task resets the session.
#[derive(Debug)]
pub struct SendQueue {
    queued: AtomicUsize,
    limit: AtomicUsize,
    overflowed: AtomicBool,
}

impl SendQueue {
    pub fn new(limit: usize) -> SendQueue {
        SendQueue {
            queued: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
            overflowed: AtomicBool::new(false),
        }
    }

    /// Takes `n` bytes of room; false when that would pass the limit (or it already did).
    pub fn reserve(&self, n: usize) -> bool {
        if self.overflowed.load(Ordering::Acquire) {
            return false;
        }
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before.saturating_add(n) > self.limit.load(Ordering::Acquire) {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            self.overflowed.store(true, Ordering::Release);
            return false;
        }
        true
    }

    /// Gives back `n` bytes once they are written (or dropped).
    pub fn release(&self, n: usize) {
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(n))
            });
    }

    /// Sets the limit (the peer task lifts it for the whole-table dump at Established and then
    /// sets it to the configured limit plus what of the dump is still queued).
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Release);
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    /// A reservation failed: the peer has stopped reading.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }
}

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
    /// Bytes waiting in `writer`.
    pub queue: Arc<SendQueue>,
    /// Resets the connection at once (the writer stops mid-message, RST).
    reset: oneshot::Sender<()>,
    pub writer_task: JoinHandle<()>,
    pub reader_task: JoinHandle<()>,
}

impl Conn {
    /// Splits the stream and starts the reader and writer tasks. `extended`: we offer extended
    /// messages (RFC 8654), so UPDATEs up to 65535 bytes are accepted once OPENs are exchanged.
    /// `ibgp`: the peer is in our AS (how LOCAL_PREF is handled, RFC 7606 §7.5).
    /// `send_limit`: bytes the writer may have queued (see [`SendQueue`]).
    pub fn start(
        id: ConnId,
        stream: TcpStream,
        events: EventTx,
        extended: bool,
        ibgp: bool,
        send_limit: usize,
    ) -> io::Result<Conn> {
        let local = stream.local_addr()?;
        let remote = stream.peer_addr()?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let (reset, reset_rx) = oneshot::channel();
        let queue = Arc::new(SendQueue::new(send_limit));
        let writer = Writer {
            id,
            events: events.clone(),
            queue: queue.clone(),
        };
        let writer_task = tokio::spawn(writer.run(write, rx, reset_rx));
        let reader_task = tokio::spawn(read_loop(id, read, events, extended, ibgp));
        Ok(Conn {
            local,
            remote,
            writer: tx,
            queue,
            reset,
            writer_task,
            reader_task,
        })
    }

    /// Queues bytes for sending; when they do not fit the queue is marked overflowed (see
    /// [`SendQueue::overflowed`]) and they are dropped.
    pub fn send(&self, data: Bytes) {
        if self.queue.reserve(data.len()) {
            let _ = self.writer.send(WriteCmd::Data(data));
        }
    }

    /// Stops reading now; the writer flushes what is queued, then closes. A writer still
    /// flushing after [`CLOSE_GRACE`], or one whose queue overflowed, is reset instead.
    pub fn close(self) -> JoinHandle<()> {
        self.reader_task.abort();
        if self.queue.overflowed() {
            let _ = self.reset.send(());
            return self.writer_task;
        }
        let _ = self.writer.send(WriteCmd::Close);
        let reset = self.reset;
        tokio::spawn(async move {
            tokio::time::sleep(CLOSE_GRACE).await;
            let _ = reset.send(());
        });
        self.writer_task
    }
}

/// The writer task of one connection.
struct Writer {
    id: ConnId,
    events: EventTx,
    queue: Arc<SendQueue>,
}

impl Writer {
    async fn run(
        self,
        mut write: OwnedWriteHalf,
        mut rx: mpsc::UnboundedReceiver<WriteCmd>,
        reset: oneshot::Receiver<()>,
    ) {
        let reset_now = tokio::select! {
            Ok(()) = reset => true,
            () = self.drain(&mut write, &mut rx) => false,
        };
        if reset_now {
            // RST: the kernel drops what is still buffered instead of holding it for a peer
            // that does not read.
            let _ = socket2::SockRef::from(write.as_ref()).set_linger(Some(Duration::ZERO));
        } else {
            let _ = write.shutdown().await;
        }
    }

    /// Writes queued data until Close, a write error or the end of the channel.
    async fn drain(&self, write: &mut OwnedWriteHalf, rx: &mut mpsc::UnboundedReceiver<WriteCmd>) {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                WriteCmd::Data(data) => {
                    let r = write.write_all(&data).await;
                    self.queue.release(data.len());
                    if let Err(e) = r {
                        let _ = self
                            .events
                            .send((self.id, ConnEvent::Closed(Some(e))))
                            .await;
                        return;
                    }
                }
                WriteCmd::Close => return,
            }
        }
    }
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
                    // Waits while the peer task is behind: we stop reading, TCP pushes back.
                    if events.send((id, ConnEvent::Message(msg))).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(notification) => {
                    let _ = events
                        .send((id, ConnEvent::DecodeError(notification)))
                        .await;
                    return;
                }
            }
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = events.send((id, ConnEvent::Closed(None))).await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = events.send((id, ConnEvent::Closed(Some(e)))).await;
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
        let _ = events.send((id, event)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_queue_takes_bytes_up_to_its_limit_and_gives_them_back_when_written() {
        let q = SendQueue::new(100);
        assert!(q.reserve(60));
        assert!(q.reserve(40));
        assert_eq!(q.queued(), 100);
        q.release(60);
        assert!(q.reserve(60));
        assert!(!q.overflowed());
    }

    #[test]
    fn a_reservation_past_the_limit_fails_and_the_queue_stays_full() {
        let q = SendQueue::new(100);
        assert!(q.reserve(90));
        assert!(!q.reserve(11));
        assert!(q.overflowed());
        assert_eq!(q.queued(), 90, "the refused bytes are not counted");
        q.release(90);
        assert!(
            !q.reserve(1),
            "an overflowed connection queues nothing more"
        );
    }

    #[test]
    fn the_table_dump_is_queued_whole_and_the_limit_then_comes_on_top_of_it() {
        let q = SendQueue::new(100);
        assert!(!SendQueue::new(100).reserve(250));
        q.set_limit(usize::MAX);
        assert!(q.reserve(250));
        q.set_limit(100 + q.queued());
        assert!(q.reserve(100));
        assert!(!q.reserve(1));
        assert_eq!(q.limit(), 350);
    }

    #[test]
    fn release_never_underflows() {
        let q = SendQueue::new(10);
        q.release(5);
        assert_eq!(q.queued(), 0);
    }
}
