//! Application state: a type map filled by the builder, read by `State<T>`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;

/// Values registered with [`WsServerBuilder::state`](crate::WsServerBuilder::state), one per type.
#[derive(Default)]
pub struct StateMap {
    map: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl StateMap {
    /// Stores `value`, replacing an earlier value of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.map.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// A clone of the value of type `T`, if one was registered.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
            .cloned()
    }

    /// Whether a value of type `T` was registered.
    pub fn contains<T: 'static>(&self) -> bool {
        self.map.contains_key(&TypeId::of::<T>())
    }

    /// Whether this is the state of a `WsClient` (whose controllers handle frames the
    /// server pushed): extractors that only a server can provide refuse it at build time.
    pub fn is_client_side(&self) -> bool {
        self.contains::<ClientSide>()
    }
}

/// Marks a [`StateMap`] as a client's. Only the crate can insert it.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) struct ClientSide;

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMap")
            .field("len", &self.map.len())
            .finish()
    }
}
