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
        let (level, name) = if v6 {
            (libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT)
        } else {
            (libc::IPPROTO_IP, libc::IP_MINTTL)
        };
        let value = min as libc::c_int;
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
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
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
}
