//! JSON Schemas of the Rust types in the contract: [`Schemas`] collects them (with
//! schemars, feature `schema`) and the probes let generated code ask for a type's schema
//! without requiring `JsonSchema`: a type that does not implement it (or any type, without
//! the feature) is recorded as untyped.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde_json::Value;

/// Where definitions live: `$ref`s point at `#/components/schemas/<Name>`, as in an
/// AsyncAPI document.
pub(crate) const DEFINITIONS: &str = "#/components/schemas/";

/// The schema collector handed to [`Controller::contract`](crate::controller::Controller::contract)
/// and [`Push::schema`](crate::Push::schema): shared definitions for every type it sees.
///
/// Payloads are described as they deserialise (a `#[serde(default)]` field is optional),
/// responses and pushes as they serialise.
pub struct Schemas {
    #[cfg(feature = "schema")]
    input: schemars::SchemaGenerator,
    #[cfg(feature = "schema")]
    output: schemars::SchemaGenerator,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas").finish_non_exhaustive()
    }
}

impl Default for Schemas {
    fn default() -> Self {
        Self::new()
    }
}

impl Schemas {
    /// An empty collector.
    pub fn new() -> Self {
        Self {
            #[cfg(feature = "schema")]
            input: generator().for_deserialize().into_generator(),
            #[cfg(feature = "schema")]
            output: generator().for_serialize().into_generator(),
        }
    }

    /// The schema of `T` as a payload the server reads (a `$ref` for named types).
    #[cfg(feature = "schema")]
    pub fn input<T: schemars::JsonSchema + ?Sized>(&mut self) -> Value {
        self.input.subschema_for::<T>().to_value()
    }

    /// The schema of `T` as a value the server writes (a `$ref` for named types).
    /// Definitions whose output shape differs from their input shape are kept apart
    /// under `<Name>.Output` in the contract.
    #[cfg(feature = "schema")]
    pub fn output<T: schemars::JsonSchema + ?Sized>(&mut self) -> Value {
        self.output.subschema_for::<T>().to_value()
    }

    /// The definitions collected so far, input and output merged, and the renames the
    /// output schemas need (`Name` → `Name.Output` where the two shapes differ).
    pub(crate) fn finish(self) -> (BTreeMap<String, Value>, BTreeMap<String, String>) {
        #[cfg(feature = "schema")]
        {
            let mut input = self.input;
            let mut output = self.output;
            let mut defs: BTreeMap<String, Value> =
                input.take_definitions(true).into_iter().collect();
            let out: BTreeMap<String, Value> = output.take_definitions(true).into_iter().collect();
            let renames: BTreeMap<String, String> = out
                .iter()
                .filter(|(name, schema)| defs.get(*name).is_some_and(|d| d != *schema))
                .map(|(name, _)| (name.clone(), format!("{name}.Output")))
                .collect();
            for (name, mut schema) in out {
                rename_refs(&mut schema, &renames);
                let key = renames.get(&name).cloned().unwrap_or(name);
                defs.entry(key).or_insert(schema);
            }
            (defs, renames)
        }
        #[cfg(not(feature = "schema"))]
        {
            (BTreeMap::new(), BTreeMap::new())
        }
    }
}

#[cfg(feature = "schema")]
fn generator() -> schemars::generate::SchemaSettings {
    schemars::generate::SchemaSettings::draft07().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    })
}

/// Points every `$ref` to a renamed definition at its new name.
pub(crate) fn rename_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    if renames.is_empty() {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix(DEFINITIONS)
                && let Some(new) = renames.get(name)
            {
                *r = format!("{DEFINITIONS}{new}");
            }
            for v in map.values_mut() {
                rename_refs(v, renames);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renames)),
        _ => {}
    }
}

/// A type's schema, or `None` when it has none: the probe generated code calls as
/// `(&Probe::<T>::new()).input_schema(s)` with both [`HasSchema`] and [`NoSchema`] in
/// scope. Method resolution picks `HasSchema` when `T: JsonSchema` (feature `schema`),
/// else the auto-referenced `NoSchema`.
#[doc(hidden)]
pub struct Probe<T: ?Sized>(PhantomData<fn() -> PhantomData<T>>);

impl<T: ?Sized> Probe<T> {
    #[doc(hidden)]
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

/// The probe's choice for types with a schema.
#[doc(hidden)]
pub trait HasSchema {
    #[doc(hidden)]
    fn input_schema(&self, schemas: &mut Schemas) -> Option<Value>;
    #[doc(hidden)]
    fn output_schema(&self, schemas: &mut Schemas) -> Option<Value>;
}

#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema + ?Sized> HasSchema for Probe<T> {
    fn input_schema(&self, schemas: &mut Schemas) -> Option<Value> {
        Some(schemas.input::<T>())
    }
    fn output_schema(&self, schemas: &mut Schemas) -> Option<Value> {
        Some(schemas.output::<T>())
    }
}

/// The probe's fallback: untyped.
#[doc(hidden)]
pub trait NoSchema {
    #[doc(hidden)]
    fn input_schema(&self, schemas: &mut Schemas) -> Option<Value>;
    #[doc(hidden)]
    fn output_schema(&self, schemas: &mut Schemas) -> Option<Value>;
}

impl<T: ?Sized> NoSchema for &Probe<T> {
    fn input_schema(&self, _: &mut Schemas) -> Option<Value> {
        None
    }
    fn output_schema(&self, _: &mut Schemas) -> Option<Value> {
        None
    }
}

/// A client id is a string on the wire (32 lowercase hex digits).
#[cfg(feature = "schema")]
impl schemars::JsonSchema for crate::clients::ClientId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ClientId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{32}$",
            "description": "A connection's id"
        })
    }
}
