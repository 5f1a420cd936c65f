//! [`WsService`]: PXL's `WebSocketService`, delivering for real.

use serde::Serialize;

use crate::clients::ClientId;
use crate::service::{Frame, Server};

/// The app-facing send API of PXL's `WebSocketService`, over a [`Server`]. Every method
/// reaches the clients it names on every instance (PXL's only publish on `custom`).
/// Counts returned are the clients of *this* instance that got the frame.
///
/// It is an extractor for actions and subscribers, or built with [`WsService::new`].
///
/// ```no_run
/// # fn f(server: pxl_ws::Server) -> Result<(), serde_json::Error> {
/// use pxl_ws::{Frame, WsService};
/// let ws = WsService::new(server);
/// ws.broadcast(&Frame::new("notification", "update", &serde_json::json!({"message": "New features!"}))?);
/// ws.send_to_rooms(&["room1", "room2"], &Frame::new("chat", "message", &serde_json::json!({"text": "hi"}))?);
/// ws.send_user_message("profileUpdated", &serde_json::json!({"userId": 123}))?;
/// ws.send_system_message("maintenance", &serde_json::json!({"minutes": 5}))?;
/// ws.send_error_message("authFailed", "Invalid token", Some("AUTH_FAILED"), None)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct WsService {
    server: Server,
}

impl WsService {
    /// A service sending through `server`.
    pub fn new(server: Server) -> Self {
        Self { server }
    }

    /// The server it sends through.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Sends `frame` to every client.
    pub fn broadcast(&self, frame: &Frame) -> usize {
        self.server.send_to_all(frame, None)
    }

    /// Sends `frame` to the members of `rooms` (once per client), wherever they are
    /// connected.
    pub fn send_to_rooms<S: AsRef<str>>(&self, rooms: &[S], frame: &Frame) -> usize {
        self.server.send_to_rooms(rooms, frame, None)
    }

    /// Sends `frame` to each of `ids`, wherever it is connected (PXL ignores the ids).
    pub fn send_to_clients(&self, ids: &[ClientId], frame: &Frame) -> usize {
        ids.iter()
            .map(|id| self.server.send_to_client(*id, frame))
            .sum()
    }

    /// Broadcasts `{"type":"user","action":action,"data":data}`.
    pub fn send_user_message<T: Serialize + ?Sized>(
        &self,
        action: &str,
        data: &T,
    ) -> Result<usize, serde_json::Error> {
        Ok(self.broadcast(&Frame::new("user", action, data)?))
    }

    /// Broadcasts `{"type":"system","action":action,"data":data}`.
    pub fn send_system_message<T: Serialize + ?Sized>(
        &self,
        action: &str,
        data: &T,
    ) -> Result<usize, serde_json::Error> {
        Ok(self.broadcast(&Frame::new("system", action, data)?))
    }

    /// Broadcasts `{"type":"error","action":action,"data":{"message","code"?,"details"?}}`
    /// (PXL's shape; absent fields are left out).
    pub fn send_error_message(
        &self,
        action: &str,
        message: &str,
        code: Option<&str>,
        details: Option<serde_json::Value>,
    ) -> Result<usize, serde_json::Error> {
        let mut data = serde_json::Map::new();
        data.insert("message".into(), message.into());
        if let Some(code) = code {
            data.insert("code".into(), code.into());
        }
        if let Some(details) = details {
            data.insert("details".into(), details);
        }
        Ok(self.broadcast(&Frame::new("error", action, &data)?))
    }

    /// Publishes an application event to every instance
    /// ([`Server::publish_custom`]): subscribers on `custom` and
    /// [`Server::subscribe_custom`] streams get it.
    pub fn publish_custom<T: Serialize + ?Sized>(
        &self,
        name: &str,
        data: &T,
    ) -> Result<(), serde_json::Error> {
        self.server.publish_custom(name, data)
    }
}
