//! A small app exercising every shape the contract describes.

use std::collections::HashMap;

use pxl_ws::{ActionError, Client, Data, Push, Server, ws_controller};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A message to post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Post {
    pub(crate) room: String,
    pub(crate) text: String,
    /// Optional: defaults to none.
    #[serde(default)]
    pub(crate) reply_to: Option<u64>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    #[serde(default)]
    pub(crate) mood: Mood,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mood {
    #[default]
    Calm,
    Loud,
}

/// The reply to a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Posted {
    pub(crate) id: u64,
    pub(crate) delivered: usize,
    pub(crate) echo: Post,
}

/// An attachment: externally tagged enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum Attachment {
    Link { url: String },
    Image { width: u32, height: u32 },
}

/// Pushed to the room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Push)]
#[push(type = "board", action = "posted")]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostedPush {
    pub(crate) id: u64,
    pub(crate) post: Post,
    pub(crate) attachment: Option<Attachment>,
    pub(crate) by: pxl_ws::ClientId,
}

/// Pushed to the sender only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Push)]
#[push(type = "board", action = "receipt")]
pub(crate) struct Receipt {
    pub(crate) id: u64,
}

/// Registered on the builder, not the controller.
#[derive(Serialize, JsonSchema, Push)]
#[push(type = "board", action = "notice")]
pub(crate) struct Notice {
    pub(crate) text: String,
}

/// A push whose payload cannot be serialised to JSON (a map with non-string keys).
#[derive(Serialize, Push)]
#[push(type = "board", action = "broken")]
pub(crate) struct Broken {
    pub(crate) map: HashMap<(u8, u8), u8>,
}

/// Untyped: no `JsonSchema`.
#[derive(Deserialize)]
pub(crate) struct Loose {
    pub(crate) anything: serde_json::Value,
}

pub(crate) struct Board;

#[ws_controller(type = "board", pushes = [PostedPush, Receipt])]
impl Board {
    /// Posts to a room the client is in; the room gets `board/posted`, the sender
    /// `board/receipt`.
    #[action("post", errors = ["NOT_IN_ROOM"])]
    async fn post(
        &self,
        client: Client,
        server: Server,
        Data(post): Data<Post>,
    ) -> Result<Posted, ActionError> {
        if !client.in_room(&post.room) {
            return Err(ActionError::new("NOT_IN_ROOM", "join first"));
        }
        let id = post.text.len() as u64;
        let push = PostedPush {
            id,
            post: post.clone(),
            attachment: Some(Attachment::Link {
                url: "https://example.invalid/".into(),
            }),
            by: client.id(),
        };
        let delivered = server.send_to_room(&post.room, &push, None);
        client.send(&Receipt { id });
        Ok(Posted {
            id,
            delivered,
            echo: post,
        })
    }

    /// Sends the unserialisable push: it reaches nobody.
    #[action("broken")]
    async fn broken(&self, client: Client, server: Server) -> usize {
        let mut map = HashMap::new();
        map.insert((1, 2), 3);
        let push = Broken { map };
        let to_room = server.send_to_all(&push, None);
        let to_me = client.send(&push);
        to_room + usize::from(to_me)
    }

    #[action("moderate", roles = ["moderator"])]
    async fn moderate(&self) -> Vec<u64> {
        vec![1, 2]
    }

    #[action("loose")]
    async fn loose(&self, Data(l): Data<Loose>) -> serde_json::Value {
        l.anything
    }

    #[action("quiet", auth)]
    async fn quiet(&self) {}
}

/// The builder of the board app.
pub(crate) fn board() -> pxl_ws::WsServerBuilder {
    let mut config = pxl_ws::WsConfig::default();
    config.rooms.presence_events = true;
    pxl_ws::WsServer::builder()
        .config(config)
        .controller(Board)
        .push::<Notice>()
        .contract_info("board", "1.2.3")
}
