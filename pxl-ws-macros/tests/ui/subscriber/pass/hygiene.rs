// The expansion names everything through absolute paths.
#![no_implicit_prelude]

#[::pxl_ws::subscriber(channel = "a", priority = 2)]
async fn hygienic(_c: ::pxl_ws::Channel) -> ::std::result::Result<(), ::pxl_ws::SubscriberError> {
    ::std::result::Result::Ok(())
}

fn main() {
    let _ = ::pxl_ws::subscribers![hygienic];
}
