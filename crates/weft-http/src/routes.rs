//! A service's routes, and the paths they were registered under: the router is built from
//! them and the route test compares them with the OpenAPI document, so neither list is kept
//! by hand.

use axum::Router;
use axum::routing::MethodRouter;

/// A router under construction that remembers each path it is given.
pub(crate) struct Routes<S> {
    router: Router<S>,
    paths: Vec<String>,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub(crate) fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    pub(crate) fn route(mut self, path: &str, method_router: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, method_router);
        self.paths.push(path.to_owned());
        self
    }

    /// What answers a path no route matches.
    pub(crate) fn fallback<H, T>(mut self, handler: H) -> Self
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
    {
        self.router = self.router.fallback(handler);
        self
    }

    /// What answers a routed path asked with a method it does not serve.
    pub(crate) fn method_not_allowed_fallback<H, T>(mut self, handler: H) -> Self
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
    {
        self.router = self.router.method_not_allowed_fallback(handler);
        self
    }

    /// The paths, in the order they were registered.
    pub(crate) fn paths(self) -> Vec<String> {
        self.paths
    }

    /// The router with its state applied.
    pub(crate) fn with_state(self, state: S) -> Router {
        self.router.with_state(state)
    }
}
