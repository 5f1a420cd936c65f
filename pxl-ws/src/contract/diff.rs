//! The breaking-change check: what changed from an older contract (a committed snapshot)
//! that existing clients would notice.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::{ActionSpec, Contract, TypeSpec};

/// One incompatible change, found by [`diff`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// An action clients call is gone.
    ActionRemoved {
        /// `type/action`.
        route: String,
    },
    /// A push clients handle is gone.
    PushRemoved {
        /// `type/action`.
        route: String,
    },
    /// An action that took no `data` now takes some.
    PayloadAdded {
        /// `type/action`.
        route: String,
    },
    /// A payload field clients may leave out is now required (or a required field was
    /// added).
    RequiredFieldAdded {
        /// `type/action`.
        route: String,
        /// The field's path (`data.room`).
        field: String,
    },
    /// A payload field accepts another type than before.
    PayloadFieldRetyped {
        /// `type/action`.
        route: String,
        /// The field's path.
        field: String,
        /// The old and the new type, as schemas in short JSON.
        from: String,
        /// The new type.
        to: String,
    },
    /// A field of a response or push that clients may read is gone, or no longer always
    /// sent.
    ResponseFieldRemoved {
        /// `type/action` (pushes as `type/action push`).
        route: String,
        /// The field's path (`response.id`, `data.text`).
        field: String,
    },
    /// A field of a response or push has another type.
    ResponseFieldRetyped {
        /// `type/action` (pushes as `type/action push`).
        route: String,
        /// The field's path.
        field: String,
        /// The old type.
        from: String,
        /// The new type.
        to: String,
    },
    /// Fewer clients may call the action: it now needs authentication, or its roles no
    /// longer include one that was enough before.
    AuthTightened {
        /// `type/action`.
        route: String,
        /// Who could call it before.
        from: String,
        /// Who can now.
        to: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::ActionRemoved { route } => write!(f, "{route}: action removed"),
            Change::PushRemoved { route } => write!(f, "{route}: push removed"),
            Change::PayloadAdded { route } => write!(f, "{route}: now requires `data`"),
            Change::RequiredFieldAdded { route, field } => {
                write!(f, "{route}: payload field `{field}` is now required")
            }
            Change::PayloadFieldRetyped {
                route,
                field,
                from,
                to,
            } => write!(
                f,
                "{route}: payload field `{field}` changed type: {from} -> {to}"
            ),
            Change::ResponseFieldRemoved { route, field } => {
                write!(f, "{route}: field `{field}` is no longer always sent")
            }
            Change::ResponseFieldRetyped {
                route,
                field,
                from,
                to,
            } => write!(f, "{route}: field `{field}` changed type: {from} -> {to}"),
            Change::AuthTightened { route, from, to } => {
                write!(f, "{route}: authorization tightened: {from} -> {to}")
            }
        }
    }
}

/// The changes from `old` to `new` that break existing clients: an action or push
/// removed, a required payload field added (or a payload where there was none), a
/// payload field retyped, a response or push field removed, made optional or retyped,
/// authorization tightened. Additions (new actions, pushes, optional payload fields,
/// response fields) are compatible and not listed. Untyped payloads (no schema on
/// either side) are not compared.
///
/// ```
/// let old: pxl_ws::contract::Contract = pxl_ws::WsServer::builder().build().unwrap().contract();
/// let new = old.clone();
/// assert!(pxl_ws::contract::diff(&old, &new).is_empty());
/// ```
pub fn diff(old: &Contract, new: &Contract) -> Vec<Change> {
    let mut out = Vec::new();
    for a in &old.actions {
        let route = format!("{}/{}", a.ty, a.action);
        let Some(b) = new.action(&a.ty, &a.action) else {
            out.push(Change::ActionRemoved { route });
            continue;
        };
        auth(&mut out, &route, a, b);
        match (&a.payload, &b.payload) {
            (None, Some(_)) => out.push(Change::PayloadAdded {
                route: route.clone(),
            }),
            (Some(x), Some(y)) => {
                let cx = Cx {
                    old,
                    new,
                    route: &route,
                };
                cx.input(&mut out, "data", x, y);
            }
            _ => {}
        }
        match (&a.response, &b.response) {
            (Some(x), Some(y)) => {
                let cx = Cx {
                    old,
                    new,
                    route: &route,
                };
                cx.output(&mut out, "response", x, y);
            }
            (Some(_), None) => out.push(Change::ResponseFieldRemoved {
                route: route.clone(),
                field: "response".to_owned(),
            }),
            _ => {}
        }
    }
    for p in &old.pushes {
        let route = format!("{}/{} push", p.ty, p.action);
        match new.push(&p.ty, &p.action) {
            None => out.push(Change::PushRemoved {
                route: format!("{}/{}", p.ty, p.action),
            }),
            Some(q) => {
                let cx = Cx {
                    old,
                    new,
                    route: &route,
                };
                cx.output(&mut out, "data", &p.data, &q.data);
            }
        }
    }
    out
}

fn who(a: &ActionSpec) -> String {
    match (a.auth, a.roles.is_empty()) {
        (false, _) => "anyone".to_owned(),
        (true, true) => "authenticated clients".to_owned(),
        (true, false) => format!("roles {}", a.roles.join("|")),
    }
}

fn auth(out: &mut Vec<Change>, route: &str, a: &ActionSpec, b: &ActionSpec) {
    let tightened = match (a.auth, b.auth) {
        (false, true) => true,
        (true, false) | (false, false) => false,
        // Any role was enough; now some role is needed. Or a role that was enough is
        // no longer listed.
        (true, true) => {
            !b.roles.is_empty()
                && (a.roles.is_empty() || a.roles.iter().any(|r| !b.roles.contains(r)))
        }
    };
    if tightened {
        out.push(Change::AuthTightened {
            route: route.to_owned(),
            from: who(a),
            to: who(b),
        });
    }
}

/// Both contracts, for resolving `$ref`s, and the route being compared.
struct Cx<'a> {
    old: &'a Contract,
    new: &'a Contract,
    route: &'a str,
}

/// Limits recursion through self-referencing schemas.
const MAX_DEPTH: usize = 16;

impl Cx<'_> {
    fn input(&self, out: &mut Vec<Change>, path: &str, x: &TypeSpec, y: &TypeSpec) {
        if let (Some(x), Some(y)) = (&x.schema, &y.schema) {
            self.compare(out, path, x, y, true, 0);
        }
    }

    fn output(&self, out: &mut Vec<Change>, path: &str, x: &TypeSpec, y: &TypeSpec) {
        if let (Some(x), Some(y)) = (&x.schema, &y.schema) {
            self.compare(out, path, x, y, false, 0);
        }
    }

    fn compare(
        &self,
        out: &mut Vec<Change>,
        path: &str,
        x: &Value,
        y: &Value,
        input: bool,
        depth: usize,
    ) {
        let x = resolve(&self.old.schemas, x);
        let y = resolve(&self.new.schemas, y);
        let none = Map::new();
        let (Some(xo), Some(yo)) = (object_props(x, &none), object_props(y, &none)) else {
            let (a, b) = (
                shape(&self.old.schemas, x, 0),
                shape(&self.new.schemas, y, 0),
            );
            if a != b {
                let (from, to) = (short(&a), short(&b));
                let (route, field) = (self.route.to_owned(), path.to_owned());
                out.push(if input {
                    Change::PayloadFieldRetyped {
                        route,
                        field,
                        from,
                        to,
                    }
                } else {
                    Change::ResponseFieldRetyped {
                        route,
                        field,
                        from,
                        to,
                    }
                });
            }
            return;
        };
        let (x_req, y_req) = (required(x), required(y));
        if input {
            for name in &y_req {
                if !x_req.contains(name) {
                    out.push(Change::RequiredFieldAdded {
                        route: self.route.to_owned(),
                        field: format!("{path}.{name}"),
                    });
                }
            }
        } else {
            for name in &x_req {
                if !y_req.contains(name) {
                    out.push(Change::ResponseFieldRemoved {
                        route: self.route.to_owned(),
                        field: format!("{path}.{name}"),
                    });
                }
            }
        }
        if depth >= MAX_DEPTH {
            return;
        }
        for (name, xs) in xo {
            if let Some(ys) = yo.get(name) {
                self.compare(out, &format!("{path}.{name}"), xs, ys, input, depth + 1);
            }
        }
    }
}

fn resolve<'a>(defs: &'a BTreeMap<String, Value>, mut v: &'a Value) -> &'a Value {
    for _ in 0..MAX_DEPTH {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.rsplit('/').next().and_then(|n| defs.get(n)) {
                Some(d) => v = d,
                None => return v,
            },
            None => return v,
        }
    }
    v
}

/// An object schema's properties; `none` for an object that lists none (any fields),
/// so properties added to it are compared as additions, not as another type.
fn object_props<'a>(v: &'a Value, none: &'a Map<String, Value>) -> Option<&'a Map<String, Value>> {
    match v.get("properties") {
        Some(p) => p.as_object(),
        None if v.get("type").and_then(Value::as_str) == Some("object") => Some(none),
        None => None,
    }
}

fn required(v: &Value) -> Vec<&str> {
    v.get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A schema without what does not change the accepted values (descriptions, titles,
/// examples, defaults), `$ref`s resolved, for comparing types.
fn shape(defs: &BTreeMap<String, Value>, v: &Value, depth: usize) -> Value {
    let v = resolve(defs, v);
    match v {
        Value::Object(map) if depth < MAX_DEPTH => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "description" | "title" | "examples" | "default" | "$schema"
                    )
                })
                .map(|(k, v)| (k.clone(), shape(defs, v, depth + 1)))
                .collect(),
        ),
        Value::Array(items) if depth < MAX_DEPTH => {
            Value::Array(items.iter().map(|i| shape(defs, i, depth + 1)).collect())
        }
        other => other.clone(),
    }
}

/// A type for a message: compact JSON with sorted keys (whatever order the map keeps),
/// cut at 120 characters.
fn short(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let by_key: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::to_value(by_key).expect("JSON")
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // Built from a sorted map, the rendering is sorted with or without serde_json's
    // `preserve_order`.
    let s = sorted(v).to_string();
    if s.len() > 120 {
        format!("{}…", &s[..s.floor_char_boundary(117)])
    } else {
        s
    }
}
