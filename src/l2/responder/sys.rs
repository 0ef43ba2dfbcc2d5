//! The system calls of the responder: the filtered packet socket, multicast membership, frame
//! receive/send, and the interface list (names, flags, MACs by ioctl; subnets by if-addrs).
//! Part of `responder.rs`'s I/O, split out for size; no tokio here.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use ipnet::IpNet;

use super::super::answer::InterfaceInfo;
use super::super::wire::{EtherType, MacAddr};

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    let len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` points to a live T of `len` bytes for the duration of the call.
    let ret = unsafe { libc::setsockopt(fd, level, name, (value as *const T).cast(), len) };
    cvt(ret).map(drop)
}

/// The classic BPF program: accept untagged ARP, and untagged IPv6 whose next header is
/// ICMPv6; drop the rest. A frame whose 802.1Q tag the NIC stripped into metadata (the usual
/// case) is dropped too: it belongs to the VLAN interface (`eth0.10`, its own socket), and an
/// answer from here would leave untagged. In-band tagged frames fail the EtherType test.
fn filter() -> [libc::sock_filter; 9] {
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let (ldw, ldh, ldb, jeq, ret) = (
        libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
        libc::BPF_LD | libc::BPF_H | libc::BPF_ABS,
        libc::BPF_LD | libc::BPF_B | libc::BPF_ABS,
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        libc::BPF_RET | libc::BPF_K,
    );
    let vlan_present = (libc::SKF_AD_OFF + libc::SKF_AD_VLAN_TAG_PRESENT) as u32;
    [
        op(ldw, 0, 0, vlan_present),               // 0: a stripped 802.1Q tag?
        op(jeq, 0, 5, 0),                          // 1: tagged → drop
        op(ldh, 0, 0, 12),                         // 2: EtherType
        op(jeq, 4, 0, u32::from(EtherType::ARP)),  // 3: ARP → accept
        op(jeq, 0, 2, u32::from(EtherType::IPV6)), // 4: not IPv6 → drop
        op(ldb, 0, 0, 14 + 6),                     // 5: IPv6 Next Header
        op(jeq, 1, 0, 58),                         // 6: ICMPv6 → accept
        op(ret, 0, 0, 0),                          // 7: drop
        op(ret, 0, 0, 0x0004_0000),                // 8: accept (whole frame)
    ]
}

/// A non-blocking packet socket on interface `index` that sees only what [`filter`] passes.
pub(super) fn packet_socket(index: u32) -> io::Result<OwnedFd> {
    let kind = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // Protocol 0: nothing is queued before the filter is attached and the bind names ETH_P_ALL.
    // SAFETY: plain syscall; the fd is owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(cvt(libc::socket(libc::AF_PACKET, kind, 0))?) };
    let program = filter();
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &prog,
    )?;
    // Best effort (Linux 4.20+); the reader skips PACKET_OUTGOING either way.
    let _ = setsockopt(
        fd.as_raw_fd(),
        libc::SOL_PACKET,
        libc::PACKET_IGNORE_OUTGOING,
        &1 as &libc::c_int,
    );
    let mut sll = sockaddr_ll(index);
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a valid sockaddr_ll of `len` bytes.
    let ret = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            len,
        )
    };
    cvt(ret)?;
    Ok(fd)
}

fn sockaddr_ll(index: u32) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = index as libc::c_int;
    sll
}

pub(super) fn membership(fd: RawFd, index: u32, group: MacAddr, join: bool) -> io::Result<()> {
    // SAFETY: packet_mreq is plain data; all zeroes is a valid value.
    let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
    mreq.mr_ifindex = index as libc::c_int;
    mreq.mr_type = libc::PACKET_MR_MULTICAST as u16;
    mreq.mr_alen = 6;
    mreq.mr_address[..6].copy_from_slice(&group.0);
    let name = if join {
        libc::PACKET_ADD_MEMBERSHIP
    } else {
        libc::PACKET_DROP_MEMBERSHIP
    };
    setsockopt(fd, libc::SOL_PACKET, name, &mreq)
}

/// Receives one frame: its length and packet type (`PACKET_HOST`, `PACKET_OUTGOING`, ...).
pub(super) fn recv_frame(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, u8)> {
    let mut from = sockaddr_ll(0);
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `buf` and `from` are valid for writes of the lengths given.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut from as *mut libc::sockaddr_ll).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, from.sll_pkttype))
}

/// Sends one whole Ethernet frame out of interface `index`.
pub(super) fn send_frame(fd: RawFd, index: u32, frame: &[u8]) -> io::Result<()> {
    let (Some(dst), Some(ethertype)) = (frame.get(..6), frame.get(12..14)) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "short frame"));
    };
    let mut to = sockaddr_ll(index);
    to.sll_protocol = u16::from_ne_bytes([ethertype[0], ethertype[1]]);
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(dst);
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `frame` and `to` are valid for reads of the lengths given.
    let n = unsafe {
        libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Every interface of the caller's network namespace, with MAC, flags and subnets.
pub(super) fn list_interfaces() -> io::Result<Vec<InterfaceInfo>> {
    let mut nets: BTreeMap<String, Vec<IpNet>> = BTreeMap::new();
    for i in if_addrs::get_if_addrs()? {
        let net = match &i.addr {
            if_addrs::IfAddr::V4(a) => IpNet::new(IpAddr::V4(a.ip), a.prefixlen),
            if_addrs::IfAddr::V6(a) => IpNet::new(IpAddr::V6(a.ip), a.prefixlen),
        };
        if let Ok(net) = net {
            nets.entry(i.name).or_default().push(net.trunc());
        }
    }
    // SAFETY: plain syscall; the fd is owned from here on.
    let probe = unsafe {
        OwnedFd::from_raw_fd(cvt(libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
        ))?)
    };
    let mut out = Vec::new();
    for (index, name) in name_index()? {
        let Ok((flags, mac, ethernet)) = link_info(probe.as_raw_fd(), &name) else {
            continue; // gone between the two reads
        };
        out.push(InterfaceInfo {
            nets: nets.remove(&name).unwrap_or_default(),
            name,
            index,
            mac,
            up: flags & libc::IFF_UP != 0,
            loopback: flags & libc::IFF_LOOPBACK != 0,
            ethernet,
        });
    }
    Ok(out)
}

/// `if_nameindex(3)`: (index, name) of every interface.
fn name_index() -> io::Result<Vec<(u32, String)>> {
    // SAFETY: if_nameindex returns an array ended by a zero entry, freed below.
    unsafe {
        let head = libc::if_nameindex();
        if head.is_null() {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut p = head;
        while (*p).if_index != 0 && !(*p).if_name.is_null() {
            let name = std::ffi::CStr::from_ptr((*p).if_name);
            out.push(((*p).if_index, name.to_string_lossy().into_owned()));
            p = p.add(1);
        }
        libc::if_freenameindex(head);
        Ok(out)
    }
}

/// Flags (`SIOCGIFFLAGS`) and hardware address (`SIOCGIFHWADDR`) of `name`, and whether it is
/// Ethernet.
fn link_info(fd: RawFd, name: &str) -> io::Result<(libc::c_int, MacAddr, bool)> {
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "name too long"));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq; the kernel fills the union member the request names.
    let (flags, hw) = unsafe {
        cvt(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req))?;
        let flags = libc::c_int::from(req.ifr_ifru.ifru_flags) & 0xffff;
        cvt(libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut req))?;
        (flags, req.ifr_ifru.ifru_hwaddr)
    };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok((flags, MacAddr(mac), hw.sa_family == libc::ARPHRD_ETHER))
}
