//! L2 test pieces: run code inside a lab namespace (`in_netns`), the in-process responder in a
//! node namespace (`NsResponder`), a raw AF_PACKET `Prober` in the client (router) namespace,
//! and the real `arping` (iputils) and `ndisc6` tools.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use ferrolb::l2::responder::{L2Owned, Responder};
use ferrolb::l2::wire::ipv6::solicited_node;
use ferrolb::l2::wire::{
    ArpOp, ArpPacket, EtherType, EthernetHeader, MacAddr, NdpMessage, NdpPacket, NeighborSolicit,
};

use super::{require, Lab};

/// Runs `f` on a new thread that has joined network namespace `ns` (`/run/netns/NS`). Sockets
/// created there belong to `ns` and may be used from any thread afterwards.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: plain syscall on a descriptor we hold open.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// The name of the one veth of a node namespace (the lab does not keep it).
pub fn node_dev(lab: &Lab, ns: &str) -> String {
    let out = lab
        .exec(ns, &["ip", "-o", "link", "show"])
        .expect("ip link show");
    out.lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .find(|n| n != "lo")
        .unwrap_or_else(|| panic!("no veth in {ns}: {out}"))
}

/// The MAC of `dev` in `ns`, lower case.
pub fn mac_of(lab: &Lab, ns: &str, dev: &str) -> String {
    let out = lab
        .exec(ns, &["ip", "-o", "link", "show", "dev", dev])
        .unwrap_or_else(|| panic!("no {dev} in {ns}"));
    let mut words = out.split_whitespace();
    words
        .find(|w| *w == "link/ether")
        .and_then(|_| words.next())
        .unwrap_or_else(|| panic!("no MAC for {dev}: {out}"))
        .to_lowercase()
}

/// The MACs in every reply the real `arping` (iputils) got for `ip` out of `dev` (2 requests).
pub fn arping(lab: &Lab, ns: &str, dev: &str, ip: &str) -> Vec<String> {
    require("arping");
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "arping", "-c", "2", "-w", "3", "-I", dev, ip,
        ])
        .output()
        .expect("run arping");
    let _ = std::fs::write(lab.path(&format!("arping-{ip}.log")), &out.stdout);
    let text = String::from_utf8_lossy(&out.stdout);
    // "Unicast reply from 192.0.2.100 [02:AB:CD:EF:01:23]  0.612ms"
    text.lines()
        .filter(|l| l.contains("reply from"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_lowercase()))
        .collect()
}

/// The MACs in every Neighbor Advertisement the real `ndisc6` got for `ip6` out of `dev`.
pub fn ndisc6(lab: &Lab, ns: &str, dev: &str, ip6: &str) -> Vec<String> {
    require("ndisc6");
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "ndisc6", "-n", "-m", "-r", "2", "-w", "1000", ip6, dev,
        ])
        .output()
        .expect("run ndisc6");
    let _ = std::fs::write(lab.path(&format!("ndisc6-{ip6}.log")), &out.stdout);
    let text = String::from_utf8_lossy(&out.stdout);
    // "Target link-layer address: 02:AB:CD:EF:01:23"
    text.lines()
        .filter_map(|l| l.split_once("Target link-layer address:"))
        .map(|(_, mac)| mac.trim().to_lowercase())
        .collect()
}

/// The responder running in-process in a node namespace, on its own current-thread runtime.
pub struct NsResponder {
    pub responder: Responder,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NsResponder {
    pub fn start(ns: &str) -> NsResponder {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = in_netns(ns, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let r = Responder::start();
                tx.send(r.clone()).expect("hand the responder over");
                let _ = stopped.await;
                r.stop().await;
            });
        });
        let responder = rx.recv().expect("responder started");
        NsResponder {
            responder,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `Responder::set`, from a plain thread (the runtime runs on the namespace's thread).
    pub fn set(&self, owned: L2Owned) {
        futures::executor::block_on(self.responder.set(owned));
    }
}

impl Drop for NsResponder {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One frame the prober received.
#[derive(Debug, Clone)]
pub struct Heard {
    pub at: Instant,
    pub dst: MacAddr,
    pub src: MacAddr,
    pub what: What,
}

#[derive(Debug, Clone)]
pub enum What {
    Arp(ArpPacket),
    Ndp(NdpPacket),
    Other,
}

impl Heard {
    /// An ARP reply for `ip` (solicited: unicast to `to`).
    pub fn is_arp_reply(&self, ip: Ipv4Addr, to: MacAddr) -> bool {
        matches!(&self.what, What::Arp(p) if p.op == ArpOp::Reply && p.sender_ip == ip && self.dst == to)
    }

    /// A solicited NA for `ip`.
    pub fn is_solicited_na(&self, ip: Ipv6Addr) -> bool {
        matches!(&self.what, What::Ndp(NdpPacket { message: NdpMessage::Advert(na), .. }) if na.target == ip && na.solicited)
    }

    /// The gratuitous ARP request (RFC 5227 announcement) for `ip` at `mac`, broadcast.
    pub fn is_gratuitous_request(&self, ip: Ipv4Addr, mac: MacAddr) -> bool {
        matches!(&self.what, What::Arp(p) if *p == ArpPacket::gratuitous_request(mac, ip)
            && self.dst == MacAddr::BROADCAST && self.src == mac)
    }

    /// The gratuitous ARP reply for `ip` at `mac`, broadcast.
    pub fn is_gratuitous_reply(&self, ip: Ipv4Addr, mac: MacAddr) -> bool {
        matches!(&self.what, What::Arp(p) if *p == ArpPacket::gratuitous_reply(mac, ip)
            && self.dst == MacAddr::BROADCAST && self.src == mac)
    }

    /// The unsolicited NA for `ip` at `mac`: Override, not Solicited, to all-nodes ff02::1.
    pub fn is_unsolicited_na(&self, ip: Ipv6Addr, mac: MacAddr) -> bool {
        let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
        matches!(&self.what, What::Ndp(NdpPacket { dst, message: NdpMessage::Advert(na), .. })
            if *dst == all_nodes && na.target == ip && na.override_ && !na.solicited
                && na.target_mac == Some(mac) && self.src == mac
                && self.dst == MacAddr([0x33, 0x33, 0, 0, 0, 1]))
    }
}

/// An AF_PACKET socket on `dev` of a namespace (the lab's client side): sends ARP requests,
/// Neighbor Solicitations and raw frames, collects what comes back.
pub struct Prober {
    fd: OwnedFd,
    index: i32,
    pub mac: MacAddr,
    pub ip4: Ipv4Addr,
    pub ip6: Ipv6Addr,
}

impl Prober {
    /// A prober on `dev` in `ns`, sending as `ip4`/`ip6` from `dev`'s own MAC.
    pub fn new(lab: &Lab, ns: &str, dev: &str, ip4: &str, ip6: &str) -> Prober {
        let mac = parse_mac(&mac_of(lab, ns, dev));
        let name = dev.to_string();
        let (fd, index) = in_netns(ns, move || {
            let cname = std::ffi::CString::new(name).unwrap();
            // SAFETY: plain syscalls; the fd is owned from here on.
            unsafe {
                let index = libc::if_nametoindex(cname.as_ptr()) as i32;
                assert!(index > 0, "no such interface");
                let raw = libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    (libc::ETH_P_ALL as u16).to_be() as i32,
                );
                assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
                let fd = OwnedFd::from_raw_fd(raw);
                let sll = sockaddr_ll(index, libc::ETH_P_ALL as u16);
                let rc = libc::bind(
                    fd.as_raw_fd(),
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                );
                assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
                (fd, index)
            }
        })
        .join()
        .expect("prober socket");
        Prober {
            fd,
            index,
            mac,
            ip4: ip4.parse().unwrap(),
            ip6: ip6.parse().unwrap(),
        }
    }

    /// Sends one whole Ethernet frame.
    pub fn send(&self, frame: &[u8]) {
        let ethertype = frame
            .get(12..14)
            .map_or(libc::ETH_P_ALL as u16, |t| u16::from_be_bytes([t[0], t[1]]));
        let sll = sockaddr_ll(self.index, ethertype);
        // SAFETY: `frame` and `sll` are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert!(n >= 0, "send: {}", std::io::Error::last_os_error());
    }

    /// The ARP request "who has `ip`, tell us", broadcast.
    pub fn arp_request_frame(&self, ip: Ipv4Addr) -> Vec<u8> {
        ArpPacket {
            op: ArpOp::Request,
            sender_mac: self.mac,
            sender_ip: self.ip4,
            target_mac: MacAddr::ZERO,
            target_ip: ip,
        }
        .to_frame(MacAddr::BROADCAST, None)
    }

    /// A Neighbor Solicitation for `ip` to its solicited-node group, with our SLLA.
    pub fn ns_frame(&self, ip: Ipv6Addr) -> Vec<u8> {
        NdpPacket {
            src: self.ip6,
            dst: solicited_node(ip),
            message: NdpMessage::Solicit(NeighborSolicit {
                target: ip,
                source_mac: Some(self.mac),
            }),
        }
        .to_frame(self.mac, None, None)
    }

    pub fn arp_request(&self, ip: Ipv4Addr) {
        self.send(&self.arp_request_frame(ip));
    }

    pub fn ns(&self, ip: Ipv6Addr) {
        self.send(&self.ns_frame(ip));
    }

    /// Every ARP/NDP frame received (not our own) during `duration`.
    pub fn collect(&self, duration: Duration) -> Vec<Heard> {
        let end = Instant::now() + duration;
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return out;
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
            if ready <= 0 {
                continue;
            }
            let mut from = sockaddr_ll(0, 0);
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: `buf` and `from` are valid for writes of the lengths given.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n <= 0 || from.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            if let Some(h) = heard(&buf[..n as usize]) {
                out.push(h);
            }
        }
    }
}

fn heard(frame: &[u8]) -> Option<Heard> {
    let (eth, payload) = EthernetHeader::parse(frame).ok()?;
    let what = match eth.ethertype {
        EtherType::ARP => ArpPacket::parse(payload).map(What::Arp).ok()?,
        EtherType::IPV6 => NdpPacket::parse(payload).map_or(What::Other, What::Ndp),
        _ => What::Other,
    };
    Some(Heard {
        at: Instant::now(),
        dst: eth.dst,
        src: eth.src,
        what,
    })
}

fn sockaddr_ll(index: i32, protocol: u16) -> libc::sockaddr_ll {
    // SAFETY: plain data; all zeroes is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = index;
    sll
}

/// "02:ab:cd:ef:01:23" → MacAddr.
pub fn parse_mac(s: &str) -> MacAddr {
    let mut mac = [0u8; 6];
    for (b, part) in mac.iter_mut().zip(s.split(':')) {
        *b = u8::from_str_radix(part, 16).unwrap_or_else(|_| panic!("bad MAC {s}"));
    }
    MacAddr(mac)
}
