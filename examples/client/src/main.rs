//! Command-line chat client for `example-chat`: cargo run -p example-client -- --name ann
//!
//! Start the chat server first (`cargo run -p example-chat`), then one or more of these
//! (and browser tabs at http://127.0.0.1:3000). Lines you type go to the active room;
//! commands: `/join ROOM` (and make it active), `/leave ROOM`, `/rooms`, `/quit`.
//!
//! Options: `--url ws://127.0.0.1:3000/ws`, `--name NAME`, `--room lobby`, `--token JWT`
//! (for a server with `PXL_WS_JWT_SECRET`). Stop the server and start it again: the client
//! reconnects with backoff, rejoins its rooms and sets its name again.
//!
//! Built on `pxl_ws::client`: pushes from the server (`chat/message`, `chat/typing`,
//! `room/memberJoined`, `room/memberLeft`) go to client-side controllers written with
//! `#[ws_controller]`, exactly like the server's.

use std::time::Duration;

use pxl_ws::client::{ClientError, ConnectionEvent, ReconnectPolicy, WsClient};
use pxl_ws::{Data, ws_controller};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

/// `chat/message` and `chat/typing` pushed by the server.
struct Chat;

#[derive(Deserialize)]
struct Message {
    room: String,
    from: String,
    text: String,
}

#[derive(Deserialize)]
struct Typing {
    room: String,
    from: String,
    typing: bool,
}

#[ws_controller(type = "chat")]
impl Chat {
    #[action("message")]
    async fn message(&self, Data(m): Data<Message>) {
        println!("[#{}] {}: {}", m.room, m.from, m.text);
    }

    #[action("typing")]
    async fn typing(&self, Data(t): Data<Typing>) {
        if t.typing {
            println!("[#{}] {} is typing…", t.room, t.from);
        }
    }
}

/// Presence events (`room/memberJoined`, `room/memberLeft`).
struct Presence;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Member {
    room_name: String,
    username: Option<String>,
    client_id: String,
}

impl Member {
    fn name(&self) -> &str {
        self.username.as_deref().unwrap_or(&self.client_id)
    }
}

#[ws_controller(type = "room")]
impl Presence {
    #[action("memberJoined")]
    async fn joined(&self, Data(m): Data<Member>) {
        println!("[#{}] {} joined", m.room_name, m.name());
    }

    #[action("memberLeft")]
    async fn left(&self, Data(m): Data<Member>) {
        println!("[#{}] {} left", m.room_name, m.name());
    }
}

struct Options {
    url: String,
    name: Option<String>,
    room: String,
    token: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        url: "ws://127.0.0.1:3000/ws".into(),
        name: None,
        room: "lobby".into(),
        token: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => o.url = value()?,
            "--name" => o.name = Some(value()?),
            "--room" => o.room = value()?,
            "--token" => o.token = Some(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: example-client [--url ws://127.0.0.1:3000/ws] [--name NAME] [--room lobby] [--token JWT]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(o)
}

/// Prints what a failed call means.
fn report(what: &str, e: &ClientError) {
    match e.server_error() {
        Some(s) => eprintln!("! {what}: {} ({})", s.message, s.code),
        None => eprintln!("! {what}: {e}"),
    }
}

async fn set_name(client: &WsClient, name: &str) {
    if let Err(e) = client
        .request::<serde_json::Value>("chat", "setName", json!({ "name": name }))
        .await
    {
        report("set name", &e);
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut builder = WsClient::builder(&o.url)
        .connect_timeout(Duration::from_secs(5))
        .reconnect({
            let mut policy = ReconnectPolicy::default();
            policy.max_attempts = None;
            policy.max_delay = Duration::from_secs(10);
            policy
        })
        .controller(Chat)
        .controller(Presence);
    if let Some(token) = &o.token {
        builder = builder.token(token);
    }
    let client = match builder.connect().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("could not connect to {}: {e}", o.url);
            std::process::exit(1);
        }
    };
    println!(
        "connected to {} as {}",
        o.url,
        client.client_id().unwrap_or_default()
    );

    // Connection events; after a reconnect the rooms are back, the name is set again.
    let mut events = client.events();
    let watcher = client.clone();
    let name = o.name.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                ConnectionEvent::Disconnected { reason } => eprintln!("* disconnected: {reason}"),
                ConnectionEvent::Reconnecting { attempt, delay } => {
                    eprintln!(
                        "* reconnecting in {:.1} s (attempt {attempt})",
                        delay.as_secs_f64()
                    );
                }
                ConnectionEvent::Reconnected { rooms, .. } => {
                    eprintln!("* reconnected; rejoined {}", rooms.join(", "));
                    if let Some(name) = &name {
                        set_name(&watcher, name).await;
                    }
                }
                ConnectionEvent::RejoinFailed { room, error } => {
                    eprintln!("* could not rejoin #{room}: {error}");
                }
                ConnectionEvent::ReconnectFailed { attempts } => {
                    eprintln!("* gave up after {attempts} attempts");
                }
                ConnectionEvent::Closed => break,
                _ => {}
            }
        }
    });

    if let Some(name) = &o.name {
        set_name(&client, name).await;
    }
    let mut active = o.room.clone();
    match client.join_room(&active).await {
        Ok(()) => println!("joined #{active}"),
        Err(e) => report("join", &e),
    }

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (command, arg) = line.split_once(' ').unwrap_or((line, ""));
        match command {
            "/quit" => break,
            "/rooms" => println!("rooms: {} (active: #{active})", client.rooms().join(", ")),
            "/join" if !arg.is_empty() => match client.join_room(arg.trim()).await {
                Ok(()) => {
                    active = arg.trim().to_owned();
                    println!("joined #{active}");
                }
                Err(e) => report("join", &e),
            },
            "/leave" if !arg.is_empty() => match client.leave_room(arg.trim()).await {
                Ok(()) => println!("left #{}", arg.trim()),
                Err(e) => report("leave", &e),
            },
            c if c.starts_with('/') => {
                eprintln!("! commands: /join ROOM, /leave ROOM, /rooms, /quit")
            }
            _ => {
                if let Err(e) = client
                    .request::<serde_json::Value>(
                        "chat",
                        "send",
                        json!({ "room": active, "text": line }),
                    )
                    .await
                {
                    report("send", &e);
                }
            }
        }
    }
    client.close().await;
}
