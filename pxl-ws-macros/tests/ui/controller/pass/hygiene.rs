// The expansion names everything by absolute path: it compiles without the prelude and
// with local items shadowing every name it could have used unqualified.
#![no_implicit_prelude]
#![deny(warnings)]
#![allow(dead_code, non_upper_case_globals, non_camel_case_types, unused_macros)]

mod std {}
mod core {}
mod pxl_ws {}

struct Option;
struct Some;
struct None;
struct Result;
struct Ok;
struct Err;
struct Box;
struct Vec;
struct String;
struct Send;
struct Sync;
struct Controller;
struct RouteInfo;
struct FromMessage;
struct Reply;
struct AuthUser;
struct str;

const ctx: u8 = 0;
const action: u8 = 0;
const state: u8 = 0;
const ROUTES: u8 = 0;
const authorize: u8 = 0;

macro_rules! format {
    ($($t:tt)*) => {
        compile_error!("the prelude-free `format!` was used")
    };
}
macro_rules! line {
    () => {
        compile_error!("a local `line!` was used")
    };
}
macro_rules! file {
    () => {
        compile_error!("a local `file!` was used")
    };
}

struct Chat;

#[::pxl_ws::ws_controller(type = "chat")]
impl Chat {
    #[action("send")]
    async fn send(
        &self,
        _client: ::pxl_ws::Client,
        ::pxl_ws::Data(msg): ::pxl_ws::Data<::std::string::String>,
        ::pxl_ws::State(n): ::pxl_ws::State<u8>,
    ) -> ::std::result::Result<::std::string::String, ::pxl_ws::ActionError> {
        let _ = n;
        ::std::result::Result::Ok(msg)
    }

    #[action("unit")]
    async fn unit(&self) {}

    #[action("result-unit")]
    async fn result_unit(&self) -> ::std::result::Result<(), ::pxl_ws::ActionError> {
        ::std::result::Result::Ok(())
    }

    #[action("value")]
    async fn value(&self) -> u8 {
        1
    }

    #[action("admin", auth, roles = ["admin"])]
    async fn admin(&self, user: ::pxl_ws::AuthUser) -> ::std::string::String {
        ::std::borrow::ToOwned::to_owned(user.user_id())
    }
}

fn main() {
    use ::pxl_ws::controller::Controller as _;
    ::std::assert_eq!(Chat.controller_type(), "chat");
    ::std::assert_eq!(Chat.routes().len(), 5);
    ::std::assert_eq!(Chat.routes()[4].roles, ["admin"]);
    ::std::assert_eq!(
        Chat.check(&<::pxl_ws::controller::StateMap as ::std::default::Default>::default())
            .len(),
        1
    );
}
