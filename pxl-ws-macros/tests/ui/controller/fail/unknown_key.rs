// An unknown key is an error at the key, listing the known ones. A misspelt `type` also
// leaves `type` missing: both errors are reported.
use pxl_ws::ws_controller;

struct Typo;

#[ws_controller(typ = "chat")]
impl Typo {
    #[action("a")]
    async fn a(&self) {}
}

struct Extra;

#[ws_controller(type = "chat", name = "x", flag, list(a, b))]
impl Extra {
    #[action("a")]
    async fn a(&self) {}
}

struct AuthTypos;

#[ws_controller(type = "admin", authenticated, role = ["admin"])]
impl AuthTypos {
    #[action("a")]
    async fn a(&self) {}
}

fn main() {}
