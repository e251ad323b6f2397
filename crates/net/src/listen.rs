//! couriertcpd's listening sockets (courier-libs `tcpd/tcpd.c`, socket creation).
//!
//! - An item with an IPv4 address gets an AF_INET socket; one with an IPv6 address an
//!   AF_INET6 socket.
//! - The wildcard gets a dual-stack AF_INET6 socket (`IPV6_V6ONLY` off) and then an
//!   AF_INET one whose bind failure is ignored (on Linux the first one already takes
//!   IPv4); without IPv6 support only the AF_INET one.
//! - Every socket: `SO_REUSEADDR`, close-on-exec, non-blocking.

use crate::NetError;
use crate::addr::{PortItem, parse_bind_address, resolve_service};
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, SockaddrIn6, SockaddrLike, bind,
    listen, setsockopt, socket, sockopt,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};

fn make(
    family: AddressFamily,
    addr: &dyn SockaddrLike,
    v6only: Option<bool>,
    backlog: i32,
) -> Result<TcpListener, NetError> {
    let sys = |call: &'static str| move |errno: Errno| NetError::Socket { call, errno };
    let fd: OwnedFd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(sys("socket"))?;
    // Courier reports a failed SO_REUSEADDR and goes on.
    let _ = setsockopt(&fd, sockopt::ReuseAddr, &true);
    if let Some(only) = v6only {
        setsockopt(&fd, sockopt::Ipv6V6Only, &only).map_err(sys("setsockopt"))?;
    }
    bind(fd.as_raw_fd(), addr).map_err(sys("bind"))?;
    let backlog = Backlog::new(backlog).unwrap_or(Backlog::MAXCONN);
    listen(&fd, backlog).map_err(sys("listen"))?;
    Ok(TcpListener::from(fd))
}

/// Opens the sockets of one PORTLIST item (see the module docs); `services` is the text
/// of /etc/services for service names.
pub fn open(item: &PortItem, services: &str, backlog: i32) -> Result<Vec<TcpListener>, NetError> {
    let port = resolve_service(&item.service, services).ok_or_else(|| NetError::InvalidPort {
        port: item.service.clone(),
    })?;
    match &item.address {
        Some(text) => {
            let ip = parse_bind_address(text).ok_or_else(|| NetError::InvalidAddress {
                address: text.clone(),
            })?;
            let listener = match ip {
                IpAddr::V4(v4) => make(
                    AddressFamily::Inet,
                    &SockaddrIn::from(SocketAddrV4::new(v4, port)),
                    None,
                    backlog,
                )?,
                IpAddr::V6(v6) => make(
                    AddressFamily::Inet6,
                    &SockaddrIn6::from(SocketAddrV6::new(v6, port, 0, 0)),
                    None,
                    backlog,
                )?,
            };
            Ok(vec![listener])
        }
        None => {
            let v4 = || {
                make(
                    AddressFamily::Inet,
                    &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)),
                    None,
                    backlog,
                )
            };
            match make(
                AddressFamily::Inet6,
                &SockaddrIn6::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)),
                Some(false),
                backlog,
            ) {
                Ok(l6) => {
                    let mut all = vec![l6];
                    all.extend(v4().ok());
                    Ok(all)
                }
                Err(NetError::Socket {
                    call: "socket",
                    errno: Errno::EAFNOSUPPORT,
                }) => Ok(vec![v4()?]),
                Err(e) => Err(e),
            }
        }
    }
}
