//! weft-portal: the web portal a commons and a hub show people, at the paths Gen3's
//! data-portal uses (`/`, `/login`, `/identity`, `/dd`, `/submission`, `/explorer`,
//! `/discovery`, `/files/{guid}`, `/workspace`).
//!
//! Pages are rendered on the server ([`pages`], with maud) from plain views the HTTP layer
//! fills from the services; the interactive parts (API keys, uploads with their dry run and
//! progress, the explorer's facets and charts, workspaces) are a few small scripts
//! ([`assets`]) that call the same public APIs Gen3's portal calls. Everything is compiled into the binary: nothing
//! is fetched from elsewhere, at build time or at run time. This crate does no I/O beyond
//! reading the configured logo at start.

pub mod assets;
mod graph;
mod layout;
pub mod pages;

use std::collections::BTreeSet;
use std::fmt;

pub use graph::DictionaryGraph;
pub use layout::Viewer;

/// A page of the portal, by the path Gen3's data-portal gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Page {
    Home,
    Login,
    Identity,
    Dictionary,
    Submission,
    Explorer,
    Discovery,
    Files,
    Workspace,
}

impl Page {
    /// Every page, in navigation order.
    pub const ALL: [Self; 9] = [
        Self::Home,
        Self::Dictionary,
        Self::Submission,
        Self::Explorer,
        Self::Discovery,
        Self::Files,
        Self::Workspace,
        Self::Identity,
        Self::Login,
    ];

    /// The name `[portal] pages` uses.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::Home => "home",
            Self::Login => "login",
            Self::Identity => "identity",
            Self::Dictionary => "dd",
            Self::Submission => "submission",
            Self::Explorer => "explorer",
            Self::Discovery => "discovery",
            Self::Files => "files",
            Self::Workspace => "workspace",
        }
    }

    /// The page's path.
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Self::Home => "/",
            Self::Login => "/login",
            Self::Identity => "/identity",
            Self::Dictionary => "/dd",
            Self::Submission => "/submission",
            Self::Explorer => "/explorer",
            Self::Discovery => "/discovery",
            Self::Files => "/files",
            Self::Workspace => "/workspace",
        }
    }

    /// Its name in the navigation bar.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Home => "Home",
            Self::Login => "Log in",
            Self::Identity => "Profile",
            Self::Dictionary => "Dictionary",
            Self::Submission => "Submission",
            Self::Explorer => "Exploration",
            Self::Discovery => "Discovery",
            Self::Files => "Files",
            Self::Workspace => "Workspace",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }
}

/// A configuration the portal cannot start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalError(pub String);

impl fmt::Display for PortalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "portal: {}", self.0)
    }
}

impl std::error::Error for PortalError {}

/// The logo people see beside the name.
#[derive(Debug, Clone)]
pub struct Logo {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The portal as configured: its name and look, its pages and explorer tabs.
#[derive(Debug, Clone)]
pub struct Portal {
    pub name: String,
    pub description: String,
    pub logo: Option<Logo>,
    pages: BTreeSet<Page>,
    pub home_nodes: Vec<String>,
    pub explorer_tabs: Vec<weft_config::ExplorerTab>,
    /// The stylesheet of the configured colours (`/portal/theme.css`).
    pub theme_css: String,
    /// What asset URLs carry so a new build's assets are fetched anew.
    pub asset_version: String,
}

impl Portal {
    /// The portal of `config`: colours checked, the logo read.
    pub fn new(config: &weft_config::PortalConfig, version: &str) -> Result<Self, PortalError> {
        let mut pages = BTreeSet::new();
        if config.pages.is_empty() {
            pages.extend(Page::ALL);
        }
        for key in &config.pages {
            let page = Page::from_key(key).ok_or_else(|| {
                PortalError(format!(
                    "pages: unknown page {key:?} (home, login, identity, dd, submission, \
                     explorer, discovery, files or workspace)"
                ))
            })?;
            pages.insert(page);
        }
        for (what, c) in [
            ("colors.primary", &config.colors.primary),
            ("colors.accent", &config.colors.accent),
        ] {
            if !is_hex_colour(c) {
                return Err(PortalError(format!(
                    "{what}: {c:?} is not a #rrggbb colour"
                )));
            }
        }
        for tab in &config.explorer {
            if tab.title.trim().is_empty() || tab.doc_type.trim().is_empty() {
                return Err(PortalError(
                    "explorer: every tab needs a title and a type".into(),
                ));
            }
        }
        let logo = match &config.logo {
            None => None,
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| PortalError(format!("logo {}: {e}", path.display())))?;
                let content_type = match path.extension().and_then(|e| e.to_str()) {
                    Some("svg") => "image/svg+xml",
                    Some("png") => "image/png",
                    _ => {
                        return Err(PortalError(format!(
                            "logo {}: an .svg or .png file, please",
                            path.display()
                        )));
                    }
                };
                Some(Logo {
                    content_type,
                    bytes,
                })
            }
        };
        Ok(Self {
            name: config.name.clone(),
            description: config.description.clone(),
            logo,
            pages,
            home_nodes: config.home_nodes.clone(),
            explorer_tabs: config.explorer.clone(),
            theme_css: format!(
                ":root{{--primary:{};--accent:{}}}\n",
                config.colors.primary, config.colors.accent
            ),
            asset_version: version.to_owned(),
        })
    }

    /// Stop serving `page` (the binary hides the graph's pages when no dictionary is
    /// configured, as on a hub).
    pub fn hide(&mut self, page: Page) {
        self.pages.remove(&page);
    }

    /// Whether `page` is served.
    #[must_use]
    pub fn serves(&self, page: Page) -> bool {
        self.pages.contains(&page)
    }
}

fn is_hex_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
