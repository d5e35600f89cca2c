//! How signaling connections end, seen from a raw WebSocket client against `duet serve`: every
//! close is a WebSocket closing handshake (RFC 6455 §7), whoever starts it, so a client never
//! sees a bare FIN or a reset (a browser's 1006), and a flood of requests written at once gets
//! the same documented `close` push (`abusive`) as a paced one.

mod common;

use std::time::Duration;

use common::{Server, data_dir, ok};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

async fn connect(server: &Server) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.http)).await.unwrap();
    let hello = next_text(&mut ws).await;
    assert_eq!(hello["push"], "hello", "{hello}");
    ws
}

async fn next_text(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("a frame within the timeout") {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Sends a request and reads up to its reply (pushes before it are skipped).
async fn request(ws: &mut Ws, id: u64, op: &str, data: Value) -> Value {
    ws.send(Message::Text(json!({"id": id, "op": op, "data": data}).to_string().into())).await.unwrap();
    loop {
        let v = next_text(ws).await;
        if v["id"] == id {
            return v;
        }
    }
}

async fn login(server: &Server, data: &std::path::Path, ws: &mut Ws, user: &str) {
    let token = ok(data, &["token", "mint", "--app-id", &server.app_id.to_string(), "--user-id", user]);
    let login = json!({"protocol": 1, "appID": server.app_id, "roomID": "room", "token": token.trim(),
        "user": {"userID": user}});
    let reply = request(ws, 1, "login", login).await;
    assert_eq!(reply["code"], 0, "{reply}");
}

/// How a connection ended, read from the client's side.
#[derive(Debug)]
struct Ending {
    /// Text frames received before the end, parsed.
    texts: Vec<Value>,
    /// The server's Close frame; `None` when the connection ended without one.
    close: Option<CloseFrame>,
    /// Set when the connection ended with an error instead of a Close frame (a reset, or a
    /// FIN without a closing handshake: tungstenite's `ResetWithoutClosingHandshake`).
    error: Option<String>,
}

/// Reads until the server's Close frame or the end of the connection. After a Close frame it
/// reads once more, which sends the client's reply and sees the server close the TCP connection.
async fn read_to_end(ws: &mut Ws) -> Ending {
    let mut ending = Ending { texts: Vec::new(), close: None, error: None };
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Err(_) => {
                ending.error = Some("no end within the timeout".into());
                return ending;
            }
            Ok(Some(Ok(Message::Text(t)))) => ending.texts.push(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                ending.close = Some(frame.unwrap_or(CloseFrame { code: CloseCode::Status, reason: "".into() }));
                // The closing handshake is complete once the server closes the TCP connection.
                match tokio::time::timeout(WAIT, ws.next()).await {
                    Ok(None) => {}
                    other => ending.error = Some(format!("after the Close frame: {other:?}")),
                }
                return ending;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => {
                ending.error = Some(e.to_string());
                return ending;
            }
            Ok(None) => {
                ending.error = Some("the stream ended without a Close frame".into());
                return ending;
            }
        }
    }
}

async fn client_close_is_answered(logout_first: bool) {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut ws = connect(&server).await;
    login(&server, &data, &mut ws, "A").await;
    if logout_first {
        let reply = request(&mut ws, 2, "logout", json!({})).await;
        assert_eq!(reply["code"], 0, "{reply}");
    }
    ws.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "bye".into() }))).await.unwrap();
    let ending = read_to_end(&mut ws).await;
    let close = ending.close.as_ref().unwrap_or_else(|| panic!("no Close frame in reply: {ending:?}"));
    assert_eq!(close.code, CloseCode::Normal, "{ending:?}");
    assert_eq!(ending.error, None, "{ending:?}");
}

#[tokio::test]
async fn a_close_after_logout_is_answered_with_a_close_frame() {
    client_close_is_answered(true).await;
}

#[tokio::test]
async fn a_close_without_logout_is_answered_with_a_close_frame() {
    client_close_is_answered(false).await;
}

/// The server-initiated path: the `close` push, then a Close frame with 4000 and the reason.
#[tokio::test]
async fn a_kicked_connection_gets_its_close_push_then_a_close_frame() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut first = connect(&server).await;
    login(&server, &data, &mut first, "A").await;
    let mut second = connect(&server).await;
    login(&server, &data, &mut second, "A").await;

    let ending = read_to_end(&mut first).await;
    let close = ending.texts.iter().find(|t| t["push"] == "close").unwrap_or_else(|| panic!("{ending:?}"));
    assert_eq!((close["data"]["code"].as_u64(), close["data"]["reason"].as_str()), (Some(41000), Some("kicked_out")));
    let frame = ending.close.as_ref().unwrap_or_else(|| panic!("no Close frame: {ending:?}"));
    assert_eq!((u16::from(frame.code), frame.reason.as_str()), (4000, "kicked_out"));
    assert_eq!(ending.error, None, "{ending:?}");
}

/// Checks a flood's ending: some pings answered, then the `abusive` close push and Close frame.
fn assert_closed_as_abusive(ending: &Ending) {
    let summary = || {
        let last: Vec<&Value> = ending.texts.iter().rev().take(3).collect();
        format!("{} texts, last {last:?}, close {:?}, error {:?}", ending.texts.len(), ending.close, ending.error)
    };
    let close = ending.texts.iter().find(|t| t["push"] == "close").unwrap_or_else(|| panic!("{}", summary()));
    assert_eq!((close["data"]["code"].as_u64(), close["data"]["reason"].as_str()), (Some(41003), Some("abusive")));
    let frame = ending.close.as_ref().unwrap_or_else(|| panic!("no Close frame: {}", summary()));
    assert_eq!((u16::from(frame.code), frame.reason.as_str()), (4000, "abusive"));
    assert_eq!(ending.error, None, "{}", summary());
    let answered = ending.texts.iter().filter(|t| t["code"] == 0).count();
    let limited = ending.texts.iter().filter(|t| t["reason"] == "rate_limited").count();
    assert!(answered >= 40 && limited > 0, "the burst is answered, then refused: {}", summary());
}

/// A paced flood: one ping after another, each reply read before the next is sent.
#[tokio::test]
async fn a_paced_flood_is_refused_then_closed_as_abusive() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut ws = connect(&server).await;
    let mut texts = Vec::new();
    for id in 1..=1000u64 {
        ws.send(Message::Text(json!({"id": id, "op": "ping"}).to_string().into())).await.unwrap();
        let v = next_text(&mut ws).await;
        let is_close = v["push"] == "close";
        texts.push(v);
        if is_close {
            break;
        }
    }
    let mut ending = read_to_end(&mut ws).await;
    texts.append(&mut ending.texts);
    ending.texts = texts;
    assert_closed_as_abusive(&ending);
}

/// A burst flood: 10,000 pings written at once, before reading anything.
#[tokio::test]
async fn a_burst_flood_gets_its_close_reason_too() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut bystander, _) = common::join(&server, &data, "room", "B").await;
    let mut ws = connect(&server).await;
    for id in 1..=10_000u64 {
        let ping = Message::Text(json!({"id": id, "op": "ping"}).to_string().into());
        if let Err(e) = ws.feed(ping).await {
            panic!("the server stopped taking the flood after {id} pings: {e}");
        }
    }
    if let Err(e) = ws.flush().await {
        panic!("the server stopped taking the flood: {e}");
    }
    let ending = read_to_end(&mut ws).await;
    assert_closed_as_abusive(&ending);
    assert_eq!(bystander.request("ping", json!({})).await.unwrap()["code"], 0, "others are unaffected");
}
