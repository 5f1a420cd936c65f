// The expansion names everything by absolute path: it compiles without the prelude and
// with local items shadowing every name it could have used unqualified, primitive types
// included.
#![no_implicit_prelude]
#![deny(warnings)]
#![allow(dead_code, non_upper_case_globals, non_camel_case_types, unused_macros)]

mod std {}
mod core {}
mod pxl_ws {}
mod regex {}

struct Option;
struct Some;
struct None;
struct Result;
struct Ok;
struct Err;
struct Box;
struct Vec;
struct String;
struct Arc;
struct Send;
struct Sync;
struct From;
struct Subscriber;
struct SubscriberContext;
struct SubscriberError;
struct SubscriberReturn;
struct FromEvent;
struct Matcher;
struct Middleware;
struct Event;
struct StateMap;
struct BoxFuture;
struct str;
struct i32;

const ctx: u8 = 0;
const state: u8 = 0;
const problems: u8 = 0;

macro_rules! format {
    ($($t:tt)*) => {
        compile_error!("the prelude-free `format!` was used")
    };
}

fn always(_c: &::std::primitive::str, _m: &::serde_json::Value) -> bool {
    true
}

#[::pxl_ws::subscriber(
    matches = ["a", ::pxl_ws::Event::Custom, regex("^b:"), predicate(always)],
    priority = -2,
    name = "hygienic",
    description = "every kind of matcher",
    middleware = [::pxl_ws::LoggingMiddleware],
)]
async fn hygienic(
    _c: ::pxl_ws::Channel,
    ::pxl_ws::State(n): ::pxl_ws::State<u8>,
) -> ::std::result::Result<(), ::pxl_ws::SubscriberError> {
    let _ = n;
    ::std::result::Result::Ok(())
}

#[::pxl_ws::subscriber(channel = "unit")]
async fn unit() {}

fn main() {
    let list = ::pxl_ws::subscribers![hygienic, unit];
    ::std::assert_eq!(list[0].name(), "hygienic");
    ::std::assert_eq!(list[0].priority(), -2);
    ::std::assert_eq!(list[0].description(), ::std::option::Option::Some("every kind of matcher"));
    ::std::assert_eq!(list[0].matchers().len(), 4);
    ::std::assert_eq!(list[0].middleware().len(), 1);
    ::std::assert_eq!(
        list[0]
            .check(&<::pxl_ws::StateMap as ::std::default::Default>::default())
            .len(),
        1
    );
    ::std::assert_eq!(list[1].name(), "unit");
}
