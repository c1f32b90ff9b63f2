//! Loopback ports for servers a process starts itself: the tests' real servers (SMTP, IMAP,
//! PostgreSQL, NATS, chromedriver, a TSA) and their "nothing listens here" addresses.

use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on 127.0.0.1 that was free when asked: the kernel picks it for a listener that
/// is closed again at once, so whoever binds it next (a server started right after) gets it.
/// Another process may take it in between; callers that cannot retry bind it soon.
pub fn free_loopback_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_free_and_bindable_on_loopback() {
        let port = free_loopback_port().unwrap();
        assert_ne!(port, 0);
        // Free when handed out: binding it succeeds, and then it is no longer free.
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        assert_eq!(held.local_addr().unwrap().port(), port);
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err());
        assert_ne!(free_loopback_port().unwrap(), port);
    }
}
