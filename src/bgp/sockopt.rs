//! Socket options BGP needs beyond what tokio offers: TCP MD5 signatures (RFC 2385), TTL for
//! eBGP multihop, and GTSM (RFC 5082) minimum TTL.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use socket2::SockRef;

/// Linux `TCP_MD5SIG` (include/uapi/linux/tcp.h); not exported by the libc crate for Linux.
const TCP_MD5SIG: libc::c_int = 14;
/// Linux `TCP_MD5SIG_MAXKEYLEN`.
const TCP_MD5SIG_MAXKEYLEN: usize = 80;

/// Linux `struct tcp_md5sig`.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; TCP_MD5SIG_MAXKEYLEN],
}

/// Installs (or with `key = None` removes) the TCP MD5 key for `peer` on a socket. On a listening
/// socket this applies to connections accepted from that peer.
pub fn set_md5_key(sock: &impl AsRawFd, peer: IpAddr, key: Option<&str>) -> io::Result<()> {
    let key = key.unwrap_or("").as_bytes();
    if key.len() > TCP_MD5SIG_MAXKEYLEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TCP MD5 password is longer than {TCP_MD5SIG_MAXKEYLEN} bytes"),
        ));
    }
    let addr: socket2::SockAddr = SocketAddr::new(peer, 0).into();
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    let len = (addr.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: both regions are valid for `len` bytes and do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            addr.as_ptr() as *const u8,
            &mut sig.addr as *mut libc::sockaddr_storage as *mut u8,
            len,
        );
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: `sig` is a properly initialised tcp_md5sig and we pass its exact size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            TCP_MD5SIG,
            &sig as *const TcpMd5Sig as *const libc::c_void,
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the outgoing TTL / hop limit, and with `min_ttl` the GTSM minimum for received packets.
pub fn set_ttl(
    sock: &(impl AsRawFd + AsFd),
    v6: bool,
    ttl: u32,
    min_ttl: Option<u32>,
) -> io::Result<()> {
    let s = SockRef::from(sock);
    if v6 {
        s.set_unicast_hops_v6(ttl)?;
    } else {
        s.set_ttl(ttl)?;
    }
    if let Some(min) = min_ttl {
        set_min_ttl(sock, v6, min)?;
    }
    Ok(())
}

/// Sets the outgoing TTL (`IP_TTL`, or `IPV6_UNICAST_HOPS` with `v6`); `None` restores the
/// system default (the value -1 for both options).
pub fn set_ttl_or_default(sock: &impl AsRawFd, v6: bool, ttl: Option<u32>) -> io::Result<()> {
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)
    } else {
        (libc::IPPROTO_IP, libc::IP_TTL)
    };
    let value = ttl.map_or(-1, |t| t.min(255) as libc::c_int);
    set_int(sock, level, name, value)
}

/// Sets the GTSM minimum TTL of received packets (`IP_MINTTL`, or `IPV6_MINHOPCOUNT` with `v6`);
/// 0 turns the check off. The kernel drops a segment below it before TCP sees it, also a SYN
/// on a listening socket.
pub fn set_min_ttl(sock: &impl AsRawFd, v6: bool, min: u32) -> io::Result<()> {
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT)
    } else {
        (libc::IPPROTO_IP, libc::IP_MINTTL)
    };
    set_int(sock, level, name, min.min(255) as libc::c_int)
}

/// `TCP_SAVE_SYN` on a listening socket: the kernel keeps the headers of each accepted
/// connection's SYN until [`saved_syn_ttl`] reads them.
pub fn set_save_syn(sock: &impl AsRawFd, on: bool) -> io::Result<()> {
    set_int(
        sock,
        libc::IPPROTO_TCP,
        libc::TCP_SAVE_SYN,
        libc::c_int::from(on),
    )
}

/// The TTL (IPv4) or hop limit (IPv6) the SYN of an accepted connection arrived with, from
/// `TCP_SAVED_SYN` (readable once; `None` when the listener did not save it).
pub fn saved_syn_ttl(sock: &impl AsRawFd) -> io::Result<Option<u8>> {
    let mut buf = [0u8; 512];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is valid for writes of `len` bytes, and the kernel writes at most that.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_SAVED_SYN,
            buf.as_mut_ptr() as *mut libc::c_void,
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(syn_ttl(buf.get(..len as usize).unwrap_or(&[])))
}

/// The TTL / hop limit in the IP header that starts `headers`.
pub fn syn_ttl(headers: &[u8]) -> Option<u8> {
    match headers.first()? >> 4 {
        4 => headers.get(8).copied(),
        6 => headers.get(7).copied(),
        _ => None,
    }
}

/// Reads an integer socket option (for tests and diagnostics).
pub fn get_int(sock: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes of a c_int and its size.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            level,
            name,
            &mut value as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_int(
    sock: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passing a c_int option value with its exact size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_key_longer_than_80_bytes_is_refused() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let long = "x".repeat(81);
        let err = set_md5_key(&sock, "127.0.0.1".parse().expect("ip"), Some(&long));
        assert!(err.is_err());
    }

    #[test]
    fn md5_key_can_be_set_on_a_listening_socket() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        set_md5_key(&sock, "127.0.0.1".parse().expect("ip"), Some("secret")).expect("setsockopt");
    }

    #[test]
    fn md5_key_can_be_removed_again() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let peer = "127.0.0.1".parse().expect("ip");
        set_md5_key(&sock, peer, Some("secret")).expect("add");
        set_md5_key(&sock, peer, None).expect("remove");
    }

    #[test]
    fn the_ttl_of_a_saved_syn_is_read_from_its_ip_header() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[8] = 1;
        assert_eq!(syn_ttl(&v4), Some(1));
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[7] = 255;
        assert_eq!(syn_ttl(&v6), Some(255));
        assert_eq!(syn_ttl(&[]), None);
        assert_eq!(syn_ttl(&[0x45, 0, 0]), None);
    }

    #[test]
    fn an_accepted_connection_tells_the_ttl_its_syn_came_with() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        set_save_syn(&listener, true).expect("TCP_SAVE_SYN");
        let addr = listener.local_addr().expect("addr");
        let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        client.set_ttl(77).expect("ttl");
        client.connect(&addr.into()).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        assert_eq!(saved_syn_ttl(&accepted).expect("saved syn"), Some(77));
    }

    #[test]
    fn ttl_and_min_ttl_are_set_and_the_default_comes_back() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let default = get_int(&sock, libc::IPPROTO_IP, libc::IP_TTL).expect("get");
        set_ttl_or_default(&sock, false, Some(255)).expect("set");
        set_min_ttl(&sock, false, 254).expect("set min");
        assert_eq!(
            get_int(&sock, libc::IPPROTO_IP, libc::IP_TTL).ok(),
            Some(255)
        );
        assert_eq!(
            get_int(&sock, libc::IPPROTO_IP, libc::IP_MINTTL).ok(),
            Some(254)
        );
        set_ttl_or_default(&sock, false, None).expect("restore");
        set_min_ttl(&sock, false, 0).expect("off");
        assert_eq!(
            get_int(&sock, libc::IPPROTO_IP, libc::IP_TTL).ok(),
            Some(default)
        );
        assert_eq!(
            get_int(&sock, libc::IPPROTO_IP, libc::IP_MINTTL).ok(),
            Some(0)
        );
    }
}
