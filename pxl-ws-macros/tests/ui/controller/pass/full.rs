// A controller using every extractor and every return-type class.
#![deny(warnings)] // the expansion itself must be warning-free

use pxl_ws::{
    ActionError,
    AuthUser,
    Client,
    Data,
    Server,
    State,
    WsServer,
    ws_controller,
    controller::Controller,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct SendMsg {
    room: String,
    text: String,
}

#[derive(Serialize)]
struct Ack {
    delivered: bool,
}

#[derive(Clone)]
struct Db {
    name: &'static str,
}

/// An application error that converts into an `ActionError`.
struct AppError;

impl From<AppError> for ActionError {
    fn from(_: AppError) -> Self {
        ActionError::new("APP", "application error")
    }
}

mod errors {
    /// An `io::Result`-style alias: still written `...::Result<T>`, so still a result.
    pub type Result<T> = std::result::Result<T, pxl_ws::ActionError>;
}

async fn yield_now() {}

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    // Extractors, in any order and with any pattern; values held across an `.await`.
    #[action("send")]
    async fn send(
        &self,
        client: Client,
        server: Server,
        Data(msg): Data<SendMsg>,
        State(db): State<Db>,
        raw: serde_json::Value,
    ) -> Result<Ack, ActionError> {
        yield_now().await;
        let _ = (client.id(), &server, msg.room, msg.text, db.name, raw);
        Ok(Ack { delivered: true })
    }

    // The authenticated user, required (with `auth`) or optional.
    #[action("whoami", auth)]
    async fn whoami(&self, user: AuthUser, maybe: Option<AuthUser>) -> String {
        let _ = maybe;
        user.user_id().to_owned()
    }

    // No return type.
    #[action("none")]
    async fn none(&self) {}

    // `()`.
    #[action("unit")]
    async fn unit(&self) -> () {}

    // `Result<(), E>`, with a custom error.
    #[action("result-unit")]
    async fn result_unit(&self, Data(fail): Data<bool>) -> Result<(), AppError> {
        if fail { Err(AppError) } else { Ok(()) }
    }

    // `Result<T, E>`, spelled with a full path.
    #[action("result-path")]
    async fn result_path(&self) -> std::result::Result<u32, ActionError> {
        Ok(1)
    }

    // An alias named `Result`.
    #[action("result-alias")]
    async fn result_alias(&self) -> errors::Result<Ack> {
        Ok(Ack { delivered: false })
    }

    // Values.
    #[action("value")]
    async fn value(&self) -> Ack {
        Ack { delivered: true }
    }

    #[action("string")]
    async fn string(&self) -> String {
        String::new()
    }

    #[action("json")]
    async fn json(&self, raw: serde_json::Value) -> serde_json::Value {
        raw
    }

    #[action("opaque")]
    async fn opaque(&self) -> impl Serialize + Send {
        [1, 2, 3]
    }

    // A plain method next to the actions.
    fn helper(&self) -> u8 {
        1
    }
}

fn main() {
    let chat = Chat;
    assert_eq!(chat.controller_type(), "chat");
    let actions: Vec<&str> = chat.routes().iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            "send",
            "whoami",
            "none",
            "unit",
            "result-unit",
            "result-path",
            "result-alias",
            "value",
            "string",
            "json",
            "opaque"
        ]
    );
    assert_eq!(chat.routes()[0].payload, Some("SendMsg"));
    assert_eq!(chat.routes()[4].payload, Some("bool"));
    assert_eq!(chat.helper(), 1);
    // The generated impl is accepted by the server builder.
    let _ = WsServer::builder().controller(Chat);
}
