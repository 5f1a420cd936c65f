//! Builds a [`Contract`] from a server's route table, its controllers' schemas and its
//! pushes (above the router: it asks each controller).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::schema::{Schemas, rename_refs};
use super::{ActionSchema, ActionSpec, Contract, PushSpec, TypeSpec, system};
use crate::config::WsConfig;
use crate::protocol::codes;
use crate::push::PushInfo;
use crate::route::RouteInfo;
use crate::router::Controller;

/// The contract of `routes` (the route table, `system` first), answered by
/// `controllers`, with `pushes` (the builder's, then each controller's).
pub(crate) fn contract(
    config: &WsConfig,
    routes: &[RouteInfo],
    controllers: &[Arc<dyn Controller>],
    pushes: &[PushInfo],
    info: (&str, &str),
) -> Contract {
    let mut schemas = Schemas::new();
    let mut described: HashMap<(&str, &str), ActionSchema> = HashMap::new();
    let mut all_pushes: Vec<PushInfo> = pushes.to_vec();
    // Sorted, so schema names (schemars numbers clashing names) are stable.
    let mut controllers: Vec<&Arc<dyn Controller>> = controllers.iter().collect();
    controllers.sort_by_key(|c| c.controller_type());
    for c in controllers {
        let ty = c.controller_type();
        for a in c.contract(&mut schemas) {
            described.insert((ty, a.action), a);
        }
        all_pushes.extend(c.pushes());
    }
    let mut actions: Vec<ActionSpec> = Vec::new();
    let mut app: Vec<ActionSpec> = Vec::new();
    for r in routes {
        if r.ty == "system" && !described.contains_key(&(r.ty, r.action)) {
            actions.push(system::action(r));
            continue;
        }
        let d = described.remove(&(r.ty, r.action));
        let payload = match &d {
            Some(d) => d.payload.clone(),
            None => r.payload.map(|p| TypeSpec::new(p, None)),
        };
        let response = match &d {
            Some(d) => d.response.clone(),
            // A hand-written controller without `contract`: its replies are unknown.
            None => Some(TypeSpec::new("unknown", None)),
        };
        let mut errors: Vec<String> = d
            .as_ref()
            .map(|d| d.errors.iter().map(|c| (*c).to_owned()).collect())
            .unwrap_or_default();
        if payload.is_some() {
            errors.push(codes::INVALID_PAYLOAD.to_owned());
        }
        if r.auth {
            errors.push(codes::UNAUTHENTICATED.to_owned());
        }
        if !r.roles.is_empty() {
            errors.push(codes::FORBIDDEN.to_owned());
        }
        errors.extend(system::ALWAYS.iter().map(|c| (*c).to_owned()));
        let mut seen = std::collections::HashSet::new();
        errors.retain(|c| seen.insert(c.clone()));
        app.push(ActionSpec {
            ty: r.ty.to_owned(),
            action: r.action.to_owned(),
            system: false,
            payload,
            response,
            auth: r.auth,
            roles: r.roles.iter().map(|r| (*r).to_owned()).collect(),
            errors,
        });
    }
    app.sort_by(|a, b| (&a.ty, &a.action).cmp(&(&b.ty, &b.action)));
    actions.extend(app);

    all_pushes.sort_by(|a, b| (a.ty, a.action, a.rust_type).cmp(&(b.ty, b.action, b.rust_type)));
    let mut by_name: BTreeMap<(&str, &str), PushSpec> = BTreeMap::new();
    for p in &all_pushes {
        let schema = (p.schema)(&mut schemas);
        by_name.entry((p.ty, p.action)).or_insert_with(|| PushSpec {
            ty: p.ty.to_owned(),
            action: p.action.to_owned(),
            system: false,
            data: TypeSpec::new(short_type_name(p.rust_type), schema),
        });
    }
    let mut pushes = system::pushes();
    pushes.retain(|s| !by_name.contains_key(&(s.ty.as_str(), s.action.as_str())));
    pushes.extend(by_name.into_values());

    let (mut defs, renames) = schemas.finish();
    for a in actions.iter_mut().filter(|a| !a.system) {
        if let Some(TypeSpec {
            schema: Some(s), ..
        }) = &mut a.response
        {
            rename_refs(s, &renames);
        }
    }
    for p in pushes.iter_mut().filter(|p| !p.system) {
        if let Some(s) = &mut p.data.schema {
            rename_refs(s, &renames);
        }
    }
    for (name, schema) in system::definitions() {
        defs.entry(name).or_insert(schema);
    }
    let auth = &config.auth;
    Contract {
        title: info.0.to_owned(),
        version: info.1.to_owned(),
        path: config.path.clone(),
        jwt: auth.jwt_secret.is_some()
            || auth.jwt_secret_base64.is_some()
            || auth.jwt_public_key_pem.is_some(),
        actions,
        pushes,
        schemas: defs,
    }
}

/// `example_chat::ChatMessage` → `ChatMessage` (generic arguments kept).
fn short_type_name(name: &str) -> String {
    let head = name.split('<').next().unwrap_or(name);
    let short = head.rsplit("::").next().unwrap_or(head);
    format!("{short}{}", &name[head.len()..])
}
