//! Schema round trips: a payload that validates against its schema deserialises (and
//! one the schema rejects does not), and every serialised response and push validates
//! against its schema. The validator is the `jsonschema` crate (draft 7, the dialect
//! the contract's schemas are written in).

use proptest::prelude::*;
use pxl_ws::contract::Contract;
use serde_json::{Value, json};

use super::app::{Attachment, Mood, Post, Posted, PostedPush, board};

pub(crate) fn contract() -> Contract {
    board().build().expect("board builds").contract()
}

/// A validator for `schema` with the contract's definitions beside it (its `$ref`s
/// point at `#/components/schemas/...`).
pub(crate) fn validator(components: &Value, schema: &Value) -> jsonschema::Validator {
    let doc = json!({ "allOf": [schema], "components": components });
    jsonschema::draft7::new(&doc).unwrap_or_else(|e| panic!("schema compiles: {e}\n{doc:#}"))
}

fn components(c: &Contract) -> Value {
    json!({ "schemas": c.schemas })
}

fn schema(c: &Contract, ty: &str, action: &str, response: bool) -> Value {
    let a = c.action(ty, action).expect("action in contract");
    let t = if response { &a.response } else { &a.payload };
    t.as_ref()
        .and_then(|t| t.schema.clone())
        .unwrap_or_else(|| panic!("{ty}/{action} is typed"))
}

#[test]
fn payloads_the_schema_accepts_deserialise_and_those_it_rejects_do_not() {
    let c = contract();
    let v = validator(&components(&c), &schema(&c, "board", "post", false));
    let accepted = [
        json!({"room": "r", "text": "t"}),
        json!({"room": "r", "text": "t", "reply_to": 7, "tags": ["a", "b"], "mood": "loud"}),
        json!({"room": "r", "text": "t", "reply_to": null, "mood": "calm"}),
        json!({"room": "", "text": "", "extra": "ignored"}),
    ];
    for instance in accepted {
        assert!(v.is_valid(&instance), "schema accepts {instance}");
        serde_json::from_value::<Post>(instance.clone())
            .unwrap_or_else(|e| panic!("{instance} validates but does not deserialise: {e}"));
    }
    let rejected = [
        json!({"room": "r"}),
        json!({"text": "t"}),
        json!({"room": "r", "text": "t", "mood": "angry"}),
        json!({"room": "r", "text": "t", "reply_to": "seven"}),
        json!({"room": "r", "text": "t", "reply_to": -1}),
        json!({"room": "r", "text": "t", "tags": "a"}),
        json!({"room": 1, "text": "t"}),
        json!([]),
        json!(null),
    ];
    for instance in rejected {
        assert!(!v.is_valid(&instance), "schema rejects {instance}");
        assert!(
            serde_json::from_value::<Post>(instance.clone()).is_err(),
            "{instance} is rejected by the schema but deserialises"
        );
    }
}

#[test]
fn the_untyped_payload_is_listed_and_accepts_anything() {
    let c = contract();
    let loose = c.action("board", "loose").unwrap();
    let payload = loose.payload.as_ref().unwrap();
    assert_eq!(payload.rust_type, "Loose");
    assert!(payload.schema.is_none(), "Loose has no JsonSchema");
    assert_eq!(c.untyped(), vec!["board/loose payload `Loose`".to_owned()]);
    // serde_json::Value has a schema: any value.
    assert!(loose.response.as_ref().unwrap().schema.is_some());
    // A unit reply has no response; `Result<(), E>` neither.
    assert!(c.action("board", "quiet").unwrap().response.is_none());
    assert!(c.action("board", "broken").unwrap().payload.is_none());
}

fn post() -> impl Strategy<Value = Post> {
    (
        ".{0,12}",
        ".{0,40}",
        proptest::option::of(any::<u64>()),
        proptest::collection::vec("[a-z]{1,5}", 0..3),
        prop_oneof![Just(Mood::Calm), Just(Mood::Loud)],
    )
        .prop_map(|(room, text, reply_to, tags, mood)| Post {
            room,
            text,
            reply_to,
            tags,
            mood,
        })
}

fn attachment() -> impl Strategy<Value = Option<Attachment>> {
    proptest::option::of(prop_oneof![
        "[a-z:/.]{0,20}".prop_map(|url| Attachment::Link { url }),
        (any::<u32>(), any::<u32>())
            .prop_map(|(width, height)| Attachment::Image { width, height }),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any payload a client serialises from the type validates and reads back equal.
    #[test]
    fn serialised_payloads_validate_and_read_back(p in post()) {
        let c = contract();
        let v = validator(&components(&c), &schema(&c, "board", "post", false));
        let json = serde_json::to_value(&p).unwrap();
        prop_assert!(v.is_valid(&json), "{}", json);
        prop_assert_eq!(serde_json::from_value::<Post>(json).unwrap(), p);
    }

    /// Every response and push the server serialises validates against its schema.
    #[test]
    fn serialised_responses_and_pushes_validate(p in post(), id in any::<u64>(), delivered in 0usize..1000, attachment in attachment()) {
        let c = contract();
        let comps = components(&c);
        let reply = validator(&comps, &schema(&c, "board", "post", true));
        let json = serde_json::to_value(Posted { id, delivered, echo: p.clone() }).unwrap();
        prop_assert!(reply.is_valid(&json), "{}", json);
        let push = c.push("board", "posted").unwrap().data.schema.clone().unwrap();
        let push = validator(&comps, &push);
        let json = serde_json::to_value(PostedPush { id, post: p, attachment, by: pxl_ws::ClientId::random() }).unwrap();
        prop_assert!(push.is_valid(&json), "{}", json);
    }
}
