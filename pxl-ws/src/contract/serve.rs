//! The contract on the builder and the server: pushes registered with
//! [`WsServerBuilder::push`], [`WsServer::contract`], and the opt-in routes
//! (`serve_contract`, `serve_contract_ts`).

use std::sync::Arc;

use axum::Router as AxumRouter;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Contract;
use crate::config::ConfigError;
use crate::push::{Push, PushInfo};
use crate::server::{WsServer, WsServerBuilder};

/// The builder's contract settings.
#[derive(Default)]
pub(crate) struct ContractSetup {
    pushes: Vec<PushInfo>,
    info: Option<(String, String)>,
    asyncapi_path: Option<String>,
    typescript_path: Option<String>,
}

impl ContractSetup {
    /// Checks the routes' paths (at `build`).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (field, path) in [
            ("serve_contract", &self.asyncapi_path),
            ("serve_contract_ts", &self.typescript_path),
        ] {
            if let Some(p) = path
                && !p.starts_with('/')
            {
                return Err(ConfigError::invalid(
                    field,
                    format!("the path must start with `/`, got {p:?}"),
                ));
            }
        }
        Ok(())
    }
}

impl WsServerBuilder {
    /// Lists a push in the contract (pushes named in `#[ws_controller(pushes = [...])]`
    /// are listed already). A `(type, action)` listed twice is kept once.
    ///
    /// ```
    /// #[derive(serde::Serialize, pxl_ws::Push)]
    /// #[push(type = "news", action = "headline")]
    /// struct Headline { title: String }
    ///
    /// let server = pxl_ws::WsServer::builder().push::<Headline>().build().unwrap();
    /// assert!(server.contract().push("news", "headline").is_some());
    /// ```
    pub fn push<T: Push>(mut self) -> Self {
        self.contract.pushes.push(PushInfo::of::<T>());
        self
    }

    /// The title and version of the contract (AsyncAPI `info`; default
    /// `"pxl-ws application"`, `"0.0.0"`), e.g.
    /// `.contract_info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))`.
    pub fn contract_info(mut self, title: impl Into<String>, version: impl Into<String>) -> Self {
        self.contract.info = Some((title.into(), version.into()));
        self
    }

    /// Serves the contract as an AsyncAPI 3.0 document at `GET path` (e.g.
    /// `"/asyncapi.json"`; default: not served). The path must start with `/`
    /// (`build` says so otherwise).
    pub fn serve_contract(mut self, path: impl Into<String>) -> Self {
        self.contract.asyncapi_path = Some(path.into());
        self
    }

    /// Serves the contract as TypeScript ([`Contract::typescript`]) at `GET path`
    /// (e.g. `"/contract.ts"`, next to `/pxl-ws.js` and `/pxl-ws.d.ts`, which it
    /// imports as `./pxl-ws.js`; default: not served).
    pub fn serve_contract_ts(mut self, path: impl Into<String>) -> Self {
        self.contract.typescript_path = Some(path.into());
        self
    }
}

impl WsServer {
    /// The server's contract: every route (the built-in `system` ones first), every
    /// push, their schemas (feature `schema`). See [`crate::contract`].
    pub fn contract(&self) -> Contract {
        let setup = self.contract_setup();
        let controllers: Vec<_> = self.router().controllers().cloned().collect();
        let (title, version) = setup
            .info
            .as_ref()
            .map(|(t, v)| (t.as_str(), v.as_str()))
            .unwrap_or(("pxl-ws application", "0.0.0"));
        super::collect::contract(
            self.handle().config(),
            &self.routes(),
            &controllers,
            &setup.pushes,
            (title, version),
        )
    }

    /// The contract routes asked for on the builder (rendered once, here).
    pub(crate) fn contract_routes(&self) -> Option<AxumRouter> {
        let setup = self.contract_setup();
        if setup.asyncapi_path.is_none() && setup.typescript_path.is_none() {
            return None;
        }
        let contract = self.contract();
        let mut router = AxumRouter::new();
        if let Some(path) = &setup.asyncapi_path {
            let body: Arc<str> = serde_json::to_string_pretty(&contract.asyncapi())
                .expect("an AsyncAPI document is plain JSON")
                .into();
            router = router.route(
                path,
                get(move || async move { asset("application/json", &body) }),
            );
        }
        if let Some(path) = &setup.typescript_path {
            let body: Arc<str> = contract.typescript().into();
            router = router.route(
                path,
                get(move || async move { asset("application/typescript; charset=utf-8", &body) }),
            );
        }
        Some(router)
    }
}

fn asset(content_type: &'static str, body: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body.to_owned(),
    )
        .into_response()
}
