//! The WebRTC UDP socket's reader: one task owns the receiving side of the one socket every
//! peer shares and hands each datagram to its peer's task. A STUN binding request goes to the
//! peer its ICE username names (`{Duet's ufrag}:{peer's ufrag}`), and records its address
//! (transport and remote address) for that peer, so a new peer reusing an old one's address is
//! found; anything else goes by its address.
//! Datagrams for nobody are dropped; a peer whose inbox is full loses the datagram (UDP).
//! Frames of ICE-TCP connections (`tcp`) come in as commands and are routed the same way.
//! The same task keeps the WHIP resources, so `DELETE` reaches the right peer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::ice::StunMessage;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// One received datagram (or an ICE-TCP frame).
pub struct Datagram {
    /// When it was read.
    pub at: Instant,
    /// Who sent it.
    pub from: SocketAddr,
    /// Its bytes.
    pub data: Vec<u8>,
    /// For a frame that came over TCP (`tcp`): where the connection's replies go.
    pub tcp: Option<mpsc::Sender<bytes::Bytes>>,
}

/// Datagrams a peer's inbox holds before new ones are dropped.
pub const INBOX: usize = 512;

/// What the HTTP side asks of the router.
pub enum Command {
    /// A new peer: its ICE ufrag, WHIP resource, inbox and stop signal.
    Add { ufrag: String, resource: String, inbox: mpsc::Sender<Datagram>, stop: oneshot::Sender<()> },
    /// `DELETE` of a WHIP resource: whether a live peer had it.
    Delete { resource: String, reply: oneshot::Sender<bool> },
    /// A frame from an ICE-TCP connection, routed as a datagram.
    Datagram(Datagram),
}

struct Entry {
    ufrag: String,
    resource: String,
    inbox: mpsc::Sender<Datagram>,
    stop: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Table {
    next: u64,
    peers: HashMap<u64, Entry>,
    by_ufrag: HashMap<String, u64>,
    /// By transport (TCP or not) and remote address.
    by_addr: HashMap<(bool, SocketAddr), u64>,
    by_resource: HashMap<String, u64>,
}

impl Table {
    fn add(&mut self, e: Entry) {
        self.purge();
        self.next += 1;
        self.by_ufrag.insert(e.ufrag.clone(), self.next);
        self.by_resource.insert(e.resource.clone(), self.next);
        self.peers.insert(self.next, e);
    }

    /// Forgets peers whose task ended.
    fn purge(&mut self) {
        let gone: Vec<u64> = self.peers.iter().filter(|(_, e)| e.inbox.is_closed()).map(|(id, _)| *id).collect();
        for id in gone {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(e) = self.peers.remove(&id) {
            self.by_ufrag.remove(&e.ufrag);
            self.by_resource.remove(&e.resource);
            self.by_addr.retain(|_, p| *p != id);
        }
    }

    /// The peer a datagram from `from` (over TCP or not) belongs to.
    fn find(&mut self, tcp: bool, from: SocketAddr, data: &[u8]) -> Option<u64> {
        // Only STUN starts with two zero bits (RFC 7983); parse only what may be STUN.
        let named = data.first().is_some_and(|b| *b < 4).then(|| local_ufrag(data)).flatten();
        if let Some(id) = named.and_then(|ufrag| self.by_ufrag.get(ufrag)).copied() {
            self.by_addr.insert((tcp, from), id);
            return Some(id);
        }
        self.by_addr.get(&(tcp, from)).copied()
    }

    fn deliver(&mut self, d: Datagram) {
        let Some(id) = self.find(d.tcp.is_some(), d.from, &d.data) else {
            // A TCP connection that reaches no peer is closed (an empty frame tells its writer).
            if let Some(tcp) = &d.tcp {
                let _ = tcp.try_send(bytes::Bytes::new());
            }
            return;
        };
        let closed = match self.peers.get(&id) {
            Some(e) => matches!(e.inbox.try_send(d), Err(mpsc::error::TrySendError::Closed(_))),
            None => true,
        };
        if closed {
            self.remove(id);
        }
    }

    fn delete(&mut self, resource: &str) -> bool {
        let Some(id) = self.by_resource.get(resource).copied() else { return false };
        let live = self.peers.get_mut(&id).and_then(|e| e.stop.take()).is_some_and(|stop| stop.send(()).is_ok());
        self.remove(id);
        live
    }
}

/// Duet's ufrag in a STUN binding request's USERNAME (`{ours}:{theirs}`).
pub fn local_ufrag(data: &[u8]) -> Option<&str> {
    let msg = StunMessage::parse(data).ok()?;
    if !msg.is_binding_request() {
        return None;
    }
    msg.username()?.split_once(':').map(|(ours, _)| ours)
}

/// Reads `socket` and serves `commands` until the command channel closes.
pub async fn run(socket: Arc<UdpSocket>, mut commands: mpsc::Receiver<Command>) {
    let mut table = Table::default();
    let mut buf = vec![0u8; 2048];
    loop {
        tokio::select! {
            got = socket.recv_from(&mut buf) => match got {
                Ok((n, from)) => {
                    let at = crate::media::now();
                    table.deliver(Datagram { at, from, data: buf[..n].to_vec(), tcp: None });
                }
                // ICMP errors (a peer's port closed) surface here on some systems: not fatal.
                Err(e) => tracing::debug!("WebRTC UDP receive: {e}"),
            },
            command = commands.recv() => match command {
                None => return,
                Some(Command::Add { ufrag, resource, inbox, stop }) => {
                    table.add(Entry { ufrag, resource, inbox, stop: Some(stop) });
                }
                Some(Command::Delete { resource, reply }) => {
                    let _ = reply.send(table.delete(&resource));
                }
                Some(Command::Datagram(d)) => table.deliver(d),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN binding request with USERNAME `name`, a PRIORITY and a MESSAGE-INTEGRITY that is
    /// not checked (routing only reads the username; the peer's engine checks the rest).
    fn binding(name: &str) -> Vec<u8> {
        let mut attr = vec![0x00, 0x06];
        attr.extend_from_slice(&(name.len() as u16).to_be_bytes());
        attr.extend_from_slice(name.as_bytes());
        while attr.len() % 4 != 0 {
            attr.push(0);
        }
        attr.extend_from_slice(&[0x00, 0x24, 0, 4, 0x6e, 0, 0x1e, 0xff]);
        attr.extend_from_slice(&[0x00, 0x08, 0, 20]);
        attr.extend_from_slice(&[0; 20]);
        let mut msg = vec![0x00, 0x01];
        msg.extend_from_slice(&(attr.len() as u16).to_be_bytes());
        msg.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&attr);
        msg
    }

    #[test]
    fn datagrams_find_their_peer_by_username_then_address() {
        let mut t = Table::default();
        let (tx, mut rx) = mpsc::channel(4);
        let (stop, mut stopped) = oneshot::channel();
        t.add(Entry { ufrag: "duet1".into(), resource: "r1".into(), inbox: tx, stop: Some(stop) });
        assert_eq!(local_ufrag(&binding("duet1:browser")), Some("duet1"));
        assert_eq!(local_ufrag(b"\x16\xfe\xfd not stun"), None);
        let (a, b): (SocketAddr, SocketAddr) = ("10.0.0.1:5000".parse().unwrap(), "10.0.0.2:5000".parse().unwrap());
        let now = Instant::now();
        t.deliver(Datagram { at: now, from: b, data: b"dtls before ice".to_vec(), tcp: None });
        t.deliver(Datagram { at: now, from: a, data: binding("other:browser"), tcp: None });
        assert!(rx.try_recv().is_err(), "nobody's datagrams are dropped");
        t.deliver(Datagram { at: now, from: a, data: binding("duet1:browser"), tcp: None });
        t.deliver(Datagram { at: now, from: a, data: b"dtls".to_vec(), tcp: None });
        assert_eq!(rx.try_recv().unwrap().from, a);
        assert_eq!(rx.try_recv().unwrap().data, b"dtls");
        assert!(!t.delete("r2"));
        assert!(t.delete("r1") && stopped.try_recv().is_ok());
        assert!(t.peers.is_empty() && t.by_addr.is_empty() && t.by_ufrag.is_empty());
    }

    #[test]
    fn a_binding_request_names_its_peer_even_from_an_address_another_peer_had() {
        let mut t = Table::default();
        let (tx1, mut rx1) = mpsc::channel(4);
        let (tx2, mut rx2) = mpsc::channel(4);
        let (s1, _k1) = oneshot::channel();
        let (s2, _k2) = oneshot::channel();
        t.add(Entry { ufrag: "one".into(), resource: "r1".into(), inbox: tx1, stop: Some(s1) });
        t.add(Entry { ufrag: "two".into(), resource: "r2".into(), inbox: tx2, stop: Some(s2) });
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let now = Instant::now();
        t.deliver(Datagram { at: now, from: a, data: binding("one:b"), tcp: None });
        // The same address, now a new browser's (port reuse): its request names peer two.
        t.deliver(Datagram { at: now, from: a, data: binding("two:b"), tcp: None });
        t.deliver(Datagram { at: now, from: a, data: b"\x16dtls".to_vec(), tcp: None });
        assert!(rx1.try_recv().is_ok() && rx1.try_recv().is_err(), "peer one got only its own request");
        assert!(rx2.try_recv().is_ok() && rx2.try_recv().unwrap().data == b"\x16dtls");
        // A TCP frame from that address and port is another transport: not routed by it.
        let (writer, mut closed) = mpsc::channel(1);
        t.deliver(Datagram { at: now, from: a, data: b"\x16dtls".to_vec(), tcp: Some(writer) });
        assert!(rx2.try_recv().is_err());
        assert!(closed.try_recv().unwrap().is_empty(), "an unroutable TCP connection is told to close");
    }

    #[test]
    fn ended_peers_are_forgotten() {
        let mut t = Table::default();
        let (tx, rx) = mpsc::channel(4);
        let (stop, _stopped) = oneshot::channel();
        t.add(Entry { ufrag: "u".into(), resource: "r".into(), inbox: tx, stop: Some(stop) });
        drop(rx);
        t.deliver(Datagram {
            at: Instant::now(),
            from: "10.0.0.1:1".parse().unwrap(),
            data: binding("u:x"),
            tcp: None,
        });
        assert!(t.peers.is_empty() && !t.delete("r"));
    }
}
