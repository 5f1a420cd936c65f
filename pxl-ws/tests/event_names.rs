//! The macro crate keeps its own list of the eleven built-in events (a proc-macro crate
//! cannot use the runtime's): it must match [`pxl_ws::subscriber::Event`], which comes from the
//! runtime's event-name table.

use std::fs;
use std::path::Path;

mod common;
use common::rust_files;

/// The `("Variant", "channelName")` pairs of the macro crate's `EVENTS` table.
fn macro_events() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pxl-ws-macros/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut tables = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let Some(start) = text.find("const EVENTS: [(&str, &str); ") else {
            continue;
        };
        let body = &text[start..];
        let body = &body[body.find("= [").unwrap() + 3..body.find("];").unwrap()];
        let pairs: Vec<(String, String)> = body
            .split("),")
            .filter_map(|p| {
                let quoted: Vec<&str> = p.split('"').skip(1).step_by(2).collect();
                (quoted.len() == 2).then(|| (quoted[0].to_owned(), quoted[1].to_owned()))
            })
            .collect();
        tables.push((file, pairs));
    }
    assert_eq!(
        tables.len(),
        1,
        "expected one `const EVENTS: [(&str, &str); N]` table in pxl-ws-macros/src, found {tables:?}"
    );
    tables.pop().unwrap().1
}

#[test]
fn the_macro_list_of_events_matches_the_event_enum() {
    let ours: Vec<(String, String)> = pxl_ws::subscriber::Event::ALL
        .iter()
        .map(|e| (format!("{e:?}"), e.as_str().to_owned()))
        .collect();
    assert_eq!(ours.len(), 11);
    assert_eq!(macro_events(), ours);
}
