// `crate = "..."` roots every generated path at the given path: here a re-export under
// another name, and a renamed `extern crate`.
#![deny(warnings)] // the expansion itself must be warning-free

extern crate pxl_ws as renamed;

mod reexport {
    pub use ::pxl_ws as ws;
}

use reexport::ws::{Data, controller::Controller, ws_controller};

struct ViaModule;

#[ws_controller(type = "module", crate = "crate::reexport::ws")]
impl ViaModule {
    #[action("send")]
    async fn send(&self, Data(n): Data<u8>) -> u8 {
        n
    }
}

struct ViaExternCrate;

#[ws_controller(crate = "renamed", type = "extern")]
impl ViaExternCrate {
    #[action("send")]
    async fn send(&self) -> Result<(), renamed::ActionError> {
        Ok(())
    }
}

fn main() {
    assert_eq!(ViaModule.controller_type(), "module");
    assert_eq!(ViaModule.routes()[0].payload, Some("u8"));
    assert_eq!(ViaExternCrate.controller_type(), "extern");
}
