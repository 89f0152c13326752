//! The portal's static files, compiled in: one stylesheet and a script per interactive page.

/// A static file: its name under `/portal/assets/`, content type and bytes.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

/// Every static file.
pub const ALL: [Asset; 6] = [
    Asset {
        name: "portal.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/portal.css"),
    },
    Asset {
        name: "portal.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/portal.js"),
    },
    Asset {
        name: "identity.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/identity.js"),
    },
    Asset {
        name: "submission.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/submission.js"),
    },
    Asset {
        name: "explorer.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/explorer.js"),
    },
    Asset {
        name: "workspace.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/workspace.js"),
    },
];

/// The static file called `name`.
#[must_use]
pub fn get(name: &str) -> Option<&'static Asset> {
    ALL.iter().find(|a| a.name == name)
}
