// Generic impl blocks are supported: the generics (and `Self`) may appear in extractor
// types.
#![deny(warnings)] // the expansion itself must be warning-free

use std::marker::PhantomData;
use std::sync::Arc;

use pxl_ws::{Data, State, ws_controller, controller::Controller};

struct Repo<T>(PhantomData<fn() -> T>);

#[ws_controller(type = "repo")]
impl<T> Repo<T>
where
    T: Clone + Send + Sync + 'static,
{
    #[action("get")]
    async fn get(&self, State(value): State<T>, Data(key): Data<String>) -> String {
        let _ = value;
        key
    }

    #[action("me")]
    async fn me(&self, State(me): State<Arc<Self>>) -> bool {
        let _ = me;
        true
    }
}

fn main() {
    let repo = Repo::<u8>(PhantomData);
    assert_eq!(repo.controller_type(), "repo");
    assert_eq!(repo.routes().len(), 2);
    assert_eq!(repo.check(&pxl_ws::controller::StateMap::default()).len(), 2);
}
