//! Each page, rendered from a view the HTTP layer fills.

use maud::{Markup, html};
use serde_json::{Value, json};
use weft_dictionary::{Dictionary, Node, Property};

use crate::graph::DictionaryGraph;
use crate::{Page, Portal, Viewer};

/// One recent submission (peregrine's transaction log).
#[derive(Debug, Clone)]
pub struct RecentSubmission {
    pub id: i64,
    pub project_id: String,
    pub submitter: String,
    pub created: String,
    pub state: String,
    /// The size of what was submitted.
    pub bytes: u64,
}

/// The APIs this weft serves, listed on the home page (and on `/` without the portal).
#[derive(Debug, Clone, Default)]
pub struct ServicesInfo {
    pub version: String,
    pub base_url: String,
    pub postgres: bool,
    /// Whether a data dictionary is configured (graph submission is served).
    pub submission: bool,
    pub hub: bool,
}

/// The list of APIs, with links people and programs start from.
fn services_section(s: &ServicesInfo) -> Markup {
    html! {
        p { "This is " strong { "weft " (s.version) } ", a Gen3-compatible data commons, at "
            code { (s.base_url) } ". Storage: "
            (if s.postgres { "PostgreSQL" } else { "SQLite (embedded)" }) "." }
        table.services {
            caption.visually-hidden { "The APIs served here" }
            tbody {
                tr { td { "Index (indexd API)" } td { a href="/index/index/" { "/index/" } } }
                tr { td { "GA4GH DRS 1.5" } td { a href="/ga4gh/drs/v1/service-info" { "/ga4gh/drs/v1/" } } }
                tr { td { "Policy engine (arborist API)" } td { a href="/authz/health" { "/authz/" } } }
                tr { td { "Identity and data access (fence API)" } td { a href="/user/.well-known/openid-configuration" { "/user/" } } }
                tr { td { "Metadata service (MDS API)" } td { a href="/mds/_status" { "/mds/" } } }
                @if s.submission {
                    tr { td { "Graph submission (sheepdog API) and the data dictionary" } td { a href="/api/v0/submission/_dictionary" { "/api/v0/submission/" } } }
                    tr { td { "GraphQL (peregrine API)" } td { code { "/api/v0/submission/graphql" } } }
                    tr { td { "Exploration (guppy API)" } td { a href="/guppy/_status" { "/guppy/" } } }
                } @else {
                    tr { td { "Graph submission (sheepdog API)" } td { "not served: no data dictionary is configured (" code { "dictionary.url" } ")" } }
                }
                @if s.hub {
                    tr { td { "Data hub (aggregate MDS, discovery search)" } td { a href="/mds/aggregate/commons" { "/mds/aggregate/" } } }
                } @else {
                    tr { td { "Data hub (aggregate MDS)" } td { "not configured here (" code { "[hub]" } ")" } }
                }
            }
        }
        ul {
            li { a href="/api/" { "API browser" } " (OpenAPI: " a href="/openapi.json" { "/openapi.json" } ")" }
            li { a href="/_status" { "Health" } ", " a href="/_version" { "version" } }
            li { "Documentation: " code { "README.md" } " and " code { "docs/" } " in the weft repository." }
        }
    }
}

/// `/` when the portal is turned off: the APIs and nothing else.
#[must_use]
pub fn landing(s: &ServicesInfo) -> Markup {
    html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "weft" }
                link rel="stylesheet" href={ "/portal/assets/portal.css?v=" (s.version) }; }
            body { main { h1 { "weft" } (services_section(s)) } }
        }
    }
}

/// What the home page shows.
#[derive(Debug, Clone, Default)]
pub struct HomeView {
    pub services: ServicesInfo,
    /// Whether this weft serves graph submission (a dictionary is configured).
    pub commons: bool,
    /// Whether it is a hub, and how many studies it holds.
    pub hub_studies: Option<u64>,
    /// The node types counted, in column order.
    pub nodes: Vec<String>,
    /// Per readable project, its count of each of `nodes`.
    pub counts: Vec<(String, Vec<u64>)>,
    pub recent: Vec<RecentSubmission>,
}

/// A login provider people may choose.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub name: String,
}

/// What the profile page shows: the user and what they may do where.
#[derive(Debug, Clone, Default)]
pub struct IdentityView {
    /// `(resource path, ["service: method", ...])`, by path.
    pub permissions: Vec<(String, Vec<String>)>,
}

/// A project on the submission page.
#[derive(Debug, Clone)]
pub struct ProjectRow {
    pub project_id: String,
    pub name: String,
    pub counts: Vec<(String, u64)>,
}

/// A study on the discovery page.
#[derive(Debug, Clone)]
pub struct Study {
    pub guid: String,
    pub name: String,
    pub commons: Option<String>,
    pub summary: Option<String>,
    pub tags: Vec<(String, String)>,
    pub subjects: Option<u64>,
    pub accessible: bool,
}

/// The discovery page: a search and its matches.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryView {
    pub q: String,
    /// The selected tags (`category`, `name`).
    pub selected: Vec<(String, String)>,
    pub total: usize,
    pub studies: Vec<Study>,
    /// Tag counts over all matches: category → [(name, count)].
    pub facets: Vec<(String, Vec<(String, u64)>)>,
    /// Where the studies come from (`hub`, or this commons' metadata service).
    pub source: String,
    /// Why the search found nothing, when it could not run.
    pub error: Option<String>,
}

/// One study's page.
#[derive(Debug, Clone)]
pub struct StudyView {
    pub study: Study,
    /// The whole `gen3_discovery` object.
    pub metadata: Value,
    /// `(object id, file name, size, link to its file page)`.
    pub files: Vec<(String, String, Option<u64>, String)>,
}

/// A data object's page.
#[derive(Debug, Clone)]
pub struct FileView {
    pub guid: String,
    pub file_name: Option<String>,
    pub size: Option<u64>,
    pub hashes: Vec<(String, String)>,
    pub authz: Vec<String>,
    pub urls: usize,
    pub updated: Option<String>,
    pub version: Option<String>,
}

/// A field of an explorer index, as the explorer's script needs to know it.
#[derive(Debug, Clone)]
pub struct ExplorerField {
    pub name: String,
    pub number: bool,
}

/// An explorer index: its guppy type and fields.
#[derive(Debug, Clone)]
pub struct ExplorerIndex {
    pub doc_type: String,
    pub fields: Vec<ExplorerField>,
}

/// Fields no default facet or column is made of: ids, the auth path, counts, timestamps.
fn is_id_field(name: &str) -> bool {
    name.ends_with("_id")
        || name.ends_with("_datetime")
        || name == "auth_resource_path"
        || name.starts_with('_')
}

impl Portal {
    /// `/`: the commons' name and description, counts per project, recent submissions.
    #[must_use]
    pub fn home(&self, viewer: &Viewer, v: &HomeView) -> Markup {
        let body = html! {
            h1 { (self.name) }
            p { (self.description) }
            @if v.commons {
                h2 { "Data in this commons" }
                @if v.counts.is_empty() {
                    p.muted {
                        @if viewer.username.is_some() { "There are no projects you may read yet." }
                        @else { "Log in to see the projects you may read." }
                    }
                } @else {
                    div.scroll {
                        table {
                            caption.visually-hidden { "Records per project and node type" }
                            thead { tr { th scope="col" { "Project" }
                                @for n in &v.nodes { th.num scope="col" { (n) } } } }
                            tbody {
                                @for (p, counts) in &v.counts {
                                    tr { th scope="row" { a href={ "/submission/" (p) } { (p) } }
                                        @for c in counts { td.num { (c) } } }
                                }
                            }
                        }
                    }
                }
                h2 { "Recent submissions" }
                @if v.recent.is_empty() {
                    p.muted { "None yet." }
                } @else {
                    table {
                        thead { tr { th scope="col" { "Transaction" } th scope="col" { "Project" }
                            th scope="col" { "Submitter" } th scope="col" { "When" }
                            th scope="col" { "State" } th.num scope="col" { "Size" } } }
                        tbody {
                            @for t in &v.recent {
                                tr { td { (t.id) } td { (t.project_id) } td { (t.submitter) }
                                    td { time datetime=(t.created) { (t.created) } } td { (t.state) }
                                    td.num { (human_bytes(t.bytes)) } }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = v.hub_studies {
                h2 { "Data hub" }
                p { "This hub gathers " (n) " studies from the commons of its mesh. "
                    a href="/discovery" { "Search them" } "." }
            }
            h2 { "Start here" }
            div.grid {
                @if self.serves(Page::Dictionary) && v.commons {
                    div.card { h3 { a href="/dd" { "Data dictionary" } } p { "The node types, their properties and how they link." } }
                }
                @if self.serves(Page::Explorer) && v.commons {
                    div.card { h3 { a href="/explorer" { "Exploration" } } p { "Filter subjects and files by facets; download what you choose." } }
                }
                @if self.serves(Page::Submission) && v.commons {
                    div.card { h3 { a href="/submission" { "Submission" } } p { "Upload TSV or JSON records to your projects, with a dry run first." } }
                }
                @if self.serves(Page::Discovery) {
                    div.card { h3 { a href="/discovery" { "Discovery" } } p { "Search studies by text and tags." } }
                }
                @if self.serves(Page::Identity) {
                    div.card { h3 { a href="/identity" { "Profile and API keys" } } p { "Your permissions; keys for the Gen3 SDK and clients." } }
                }
            }
            h2 { "For programs: the APIs" }
            (services_section(&v.services))
        };
        self.shell(Some(Page::Home), viewer, &self.name, &body, &[])
    }

    /// `/login`: the providers, or who is logged in.
    #[must_use]
    pub fn login(&self, viewer: &Viewer, providers: &[Provider], next: &str) -> Markup {
        let body = html! {
            h1 { "Log in" }
            @if let Some(user) = &viewer.username {
                p { "You are logged in as " strong { (user) } "." }
                p { a.button href="/identity" { "Your profile" } " "
                    a.button.secondary href="/user/logout?next=/" { "Log out" } }
            } @else if providers.is_empty() {
                p.notice { "No login provider is configured on this commons (" code { "[login]" } ")." }
            } @else {
                p { "Choose how to log in:" }
                ul {
                    @for p in providers {
                        li { a.button href={ "/user/login/" (p.id) "?redirect=" (next) } { "Log in with " (p.name) } }
                    }
                }
            }
        };
        self.shell(Some(Page::Login), viewer, "Log in", &body, &[])
    }

    /// `/identity`: the user's permissions and API keys (the keys through the script).
    #[must_use]
    pub fn identity(&self, viewer: &Viewer, v: &IdentityView) -> Markup {
        let body = html! {
            h1 { "Profile" }
            @if let Some(user) = &viewer.username {
                p { "Logged in as " strong #username { (user) } "." }
                h2 { "API keys" }
                p { "An API key lets the Gen3 SDK and other programs act as you. "
                    "A new key is downloaded once, as " code { "credentials.json" } "." }
                p { button #create-key type="button" { "Create API key" } }
                p #key-status role="status" aria-live="polite" {}
                table #keys {
                    caption.visually-hidden { "Your API keys" }
                    thead { tr { th scope="col" { "Key id" } th scope="col" { "Expires" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody { tr { td colspan="3" .muted { "Loading…" } } }
                }
                h2 { "Resources and permissions" }
                @if v.permissions.is_empty() {
                    p.muted { "You have no permissions on any resource." }
                } @else {
                    table #permissions {
                        thead { tr { th scope="col" { "Resource" } th scope="col" { "Permissions (service: method)" } } }
                        tbody {
                            @for (path, perms) in &v.permissions {
                                tr { td { code { (path) } } td { (perms.join(", ")) } }
                            }
                        }
                    }
                }
            } @else {
                p { "You are not logged in. " a href="/login?next=/identity" { "Log in" } " to see your profile and API keys." }
            }
        };
        let scripts: &[&str] = if viewer.username.is_some() {
            &["portal.js", "identity.js"]
        } else {
            &[]
        };
        self.shell(Some(Page::Identity), viewer, "Profile", &body, scripts)
    }

    /// `/dd`: the graph of node types and a table of them by category.
    #[must_use]
    pub fn dictionary(&self, viewer: &Viewer, dict: &Dictionary) -> Markup {
        let graph = DictionaryGraph::layout(dict);
        let mut by_category: std::collections::BTreeMap<&str, Vec<&Node>> =
            std::collections::BTreeMap::new();
        for n in dict.nodes() {
            by_category.entry(n.category.as_str()).or_default().push(n);
        }
        let body = html! {
            h1 { "Data dictionary" }
            p { (dict.nodes().count()) " node types" @if let Some(v) = dict.version() { ", version " (v) } ". "
                "Choose a node in the graph or the table to see its properties. "
                a href="/api/v0/submission/_dictionary/_all" { "The whole dictionary as JSON" } "." }
            h2 { "Graph" }
            div.graph.scroll { (graph.svg()) }
            h2 { "Nodes by category" }
            table {
                thead { tr { th scope="col" { "Category" } th scope="col" { "Node" } th scope="col" { "Description" } } }
                tbody {
                    @for (cat, nodes) in &by_category {
                        @for n in nodes {
                            tr { td { (cat) } td { a href={ "/dd/" (n.id) } { (n.title) } } td { (n.description.as_deref().unwrap_or("")) } }
                        }
                    }
                }
            }
        };
        self.shell(
            Some(Page::Dictionary),
            viewer,
            "Data dictionary",
            &body,
            &[],
        )
    }

    /// `/dd/{node}`: a node type's links and properties, and its templates.
    #[must_use]
    pub fn dictionary_node(&self, viewer: &Viewer, node: &Node) -> Markup {
        let body = html! {
            p { a href="/dd" { "← Data dictionary" } }
            h1 { (node.title) " " small.muted { code { (node.id) } } }
            p { (node.description.as_deref().unwrap_or("")) }
            p { "Category: " strong { (node.category) } }
            p { "Templates: "
                a href={ "/api/v0/submission/template/" (node.id) "?format=tsv" } download={ (node.id) "_template.tsv" } { "TSV" } " · "
                a href={ "/api/v0/submission/template/" (node.id) "?format=json" } download={ (node.id) "_template.json" } { "JSON" } }
            @if !node.links.is_empty() {
                h2 { "Links" }
                table {
                    thead { tr { th scope="col" { "Link" } th scope="col" { "To" } th scope="col" { "Multiplicity" } th scope="col" { "Required" } } }
                    tbody {
                        @for l in &node.links {
                            tr { td { code { (l.name) } } td { a href={ "/dd/" (l.target_type) } { (l.target_type) } }
                                td { (l.multiplicity.as_str()) } td { @if l.required { "yes" } @else { "no" } } }
                        }
                    }
                }
            }
            h2 { "Properties" }
            table #properties {
                thead { tr { th scope="col" { "Property" } th scope="col" { "Type" } th scope="col" { "Required" } th scope="col" { "Description" } } }
                tbody {
                    @for p in &node.properties {
                        @if !node.system_properties.contains(&p.name) || node.is_required(&p.name) {
                            tr { td { code { (p.name) } } td { (type_label(p)) }
                                td { @if node.is_required(&p.name) { strong { "required" } } @else { span.muted { "no" } } }
                                td { (p.description.as_deref().unwrap_or("")) } }
                        }
                    }
                }
            }
        };
        self.shell(Some(Page::Dictionary), viewer, &node.title, &body, &[])
    }

    /// `/submission`: the projects the user may read, with their counts.
    #[must_use]
    pub fn submission(&self, viewer: &Viewer, projects: &[ProjectRow]) -> Markup {
        let body = html! {
            h1 { "Submission" }
            @if viewer.username.is_none() {
                p { a href="/login?next=/submission" { "Log in" } " to submit data to your projects." }
            } @else if projects.is_empty() {
                p.muted { "You have no projects yet." }
            } @else {
                p { "Choose a project to upload TSV or JSON records to it." }
                table #projects {
                    thead { tr { th scope="col" { "Project" } th scope="col" { "Name" } th scope="col" { "Records" } } }
                    tbody {
                        @for p in projects {
                            tr { td { a href={ "/submission/" (p.project_id) } { (p.project_id) } } td { (p.name) }
                                td { (p.counts.iter().filter(|(_, c)| *c > 0).map(|(n, c)| format!("{n}: {c}")).collect::<Vec<_>>().join(", ")) } }
                        }
                    }
                }
            }
        };
        self.shell(Some(Page::Submission), viewer, "Submission", &body, &[])
    }

    /// `/submission/{project}`: upload a file there, dry run first.
    #[must_use]
    pub fn submission_project(
        &self,
        viewer: &Viewer,
        project_id: &str,
        counts: &[(String, u64)],
        nodes: &[String],
    ) -> Markup {
        let (program, project) = project_id.split_once('-').unwrap_or((project_id, ""));
        let body = html! {
            p { a href="/submission" { "← Submission" } }
            h1 { "Project " (project_id) }
            @if counts.iter().any(|(_, c)| *c > 0) {
                table #counts {
                    thead { tr { th scope="col" { "Node type" } th.num scope="col" { "Records" } } }
                    tbody { @for (n, c) in counts { @if *c > 0 { tr { td { (n) } td.num { (c) } } } } }
                }
            } @else { p.muted { "No records yet." } }
            h2 { "Upload records" }
            form #upload data-program=(program) data-project=(project) {
                p { label for="file" { "A TSV, CSV or JSON file" } br;
                    input #file type="file" name="file" accept=".tsv,.csv,.json,.txt,text/tab-separated-values,text/csv,application/json" required; }
                p { label for="node-type" { "Node type (TSV and CSV files without a " code { "type" } " column)" } br;
                    select #node-type name="type" {
                        option value="" { "from the file" }
                        @for n in nodes { option value=(n) { (n) } }
                    } }
                p { button #dry-run type="submit" { "Check (dry run)" } " "
                    button #submit type="button" disabled { "Submit" } }
            }
            progress #progress.progress max="100" value="0" hidden { }
            p #upload-status role="status" aria-live="polite" {}
            table #upload-errors hidden {
                caption { "Entities with errors" }
                thead { tr { th scope="col" { "Row" } th scope="col" { "Type" } th scope="col" { "Property" } th scope="col" { "Error" } } }
                tbody {}
            }
        };
        self.shell(
            Some(Page::Submission),
            viewer,
            project_id,
            &body,
            &["portal.js", "submission.js"],
        )
    }

    /// `/explorer`: the tabs; facets, charts and the table come from the explorer's script.
    #[must_use]
    pub fn explorer(&self, viewer: &Viewer, indices: &[ExplorerIndex], tier: &Value) -> Markup {
        let tabs = self.tabs(indices);
        let config = json!({ "tabs": tabs, "tier": tier });
        let body = html! {
            h1 { "Exploration" }
            @if tabs.is_empty() {
                p.notice { "No explorer tab names an index of this commons (" code { "[[portal.explorer]] type" } ")." }
            } @else {
                div.tabs role="tablist" aria-label="Data types" {
                    @for (i, t) in tabs.iter().enumerate() {
                        button role="tab" type="button" id={ "tab-" (i) } aria-controls="explorer"
                            aria-selected=(if i == 0 { "true" } else { "false" }) data-index=(i) {
                            (t["title"].as_str().unwrap_or(""))
                        }
                    }
                }
                div #explorer.layout role="tabpanel" aria-labelledby="tab-0" {
                    aside.facets aria-label="Filters" {
                        p { button #clear type="button" .secondary { "Clear filters" } }
                        div #facets {}
                    }
                    section aria-label="Results" {
                        p #total role="status" aria-live="polite" { "Loading…" }
                        div #charts.charts {}
                        div.pager {
                            button #download-tsv type="button" { "Download TSV" }
                            button #download-json type="button" .secondary { "Download JSON" }
                            button #download-manifest type="button" .secondary { "Download manifest" }
                            @if self.serves(Page::Workspace) {
                                button #export-workspace type="button" .secondary { "Export to workspace" }
                            }
                        }
                        div.scroll { table #rows { thead {} tbody {} } }
                        div.pager {
                            button #prev type="button" .secondary { "Previous" }
                            span #page {}
                            button #next type="button" .secondary { "Next" }
                        }
                    }
                }
                script #explorer-config type="application/json" { (maud::PreEscaped(json_for_script(&config))) }
            }
        };
        self.shell(
            Some(Page::Explorer),
            viewer,
            "Exploration",
            &body,
            &["portal.js", "explorer.js"],
        )
    }

    /// The configured tabs, or one per index; each with its facets, charts and columns
    /// resolved against the index's fields.
    fn tabs(&self, indices: &[ExplorerIndex]) -> Vec<Value> {
        let configured: Vec<weft_config::ExplorerTab> = if self.explorer_tabs.is_empty() {
            indices
                .iter()
                .map(|i| weft_config::ExplorerTab {
                    title: title_case(&i.doc_type),
                    doc_type: i.doc_type.clone(),
                    facets: Vec::new(),
                    charts: Vec::new(),
                    table: Vec::new(),
                })
                .collect()
        } else {
            self.explorer_tabs.clone()
        };
        configured
            .iter()
            .filter_map(|tab| {
                let index = indices.iter().find(|i| i.doc_type == tab.doc_type)?;
                let known = |f: &String| index.fields.iter().any(|x| &x.name == f);
                let facets: Vec<Value> = if tab.facets.is_empty() {
                    index
                        .fields
                        .iter()
                        .filter(|f| !is_id_field(&f.name))
                        .map(|f| json!({ "field": f.name, "number": f.number, "auto": true }))
                        .collect()
                } else {
                    tab.facets
                        .iter()
                        .filter(|f| known(f))
                        .map(|f| {
                            let number = index.fields.iter().any(|x| &x.name == f && x.number);
                            json!({ "field": f, "number": number, "auto": false })
                        })
                        .collect()
                };
                let charts: Vec<Value> = if tab.charts.is_empty() {
                    Vec::new()
                } else {
                    tab.charts
                        .iter()
                        .map(|c| match c.strip_prefix("pie:") {
                            Some(f) => json!({ "field": f, "kind": "pie" }),
                            None => json!({ "field": c, "kind": "bar" }),
                        })
                        .filter(|c| index.fields.iter().any(|x| x.name == c["field"]))
                        .collect()
                };
                let table: Vec<String> = if tab.table.is_empty() {
                    let mut cols: Vec<String> = index
                        .fields
                        .iter()
                        .filter(|f| f.name == "submitter_id" || f.name == "project_id")
                        .map(|f| f.name.clone())
                        .collect();
                    cols.extend(
                        index
                            .fields
                            .iter()
                            .filter(|f| !is_id_field(&f.name))
                            .take(8 - cols.len())
                            .map(|f| f.name.clone()),
                    );
                    cols
                } else {
                    tab.table.iter().filter(|f| known(f)).cloned().collect()
                };
                let object_id = index.fields.iter().any(|f| f.name == "object_id");
                Some(json!({
                    "title": tab.title,
                    "type": tab.doc_type,
                    "facets": facets,
                    "charts": charts,
                    "table": table,
                    "idField": format!("_{}_id", tab.doc_type),
                    "hasObjectId": object_id,
                    "fields": index.fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
                }))
            })
            .collect()
    }

    /// `/discovery`: search studies by text and tags.
    #[must_use]
    pub fn discovery(&self, viewer: &Viewer, v: &DiscoveryView) -> Markup {
        let tag_link = |cat: &str, name: &str| -> String {
            let mut sel = v.selected.clone();
            if let Some(i) = sel.iter().position(|(c, n)| c == cat && n == name) {
                sel.remove(i);
            } else {
                sel.push((cat.to_owned(), name.to_owned()));
            }
            let mut q = format!("/discovery?q={}", url_encode(&v.q));
            for (c, n) in &sel {
                q.push_str("&tag=");
                q.push_str(&url_encode(&format!("{c}:{n}")));
            }
            q
        };
        let body = html! {
            h1 { "Discovery" }
            form role="search" method="get" action="/discovery" {
                label for="q" { "Search studies" } " "
                input #q type="search" name="q" value=(v.q);
                @for (c, n) in &v.selected { input type="hidden" name="tag" value={ (c) ":" (n) }; }
                " " button type="submit" { "Search" }
            }
            @if let Some(e) = &v.error { p.notice.error role="alert" { (e) } }
            p.muted { (v.total) " studies match" @if !v.source.is_empty() { " (from " (v.source) ")" } "." }
            div.layout {
                aside aria-label="Tags" {
                    @for (cat, names) in &v.facets {
                        h2.small { (cat) }
                        p {
                            @for (name, count) in names {
                                @let on = v.selected.iter().any(|(c, n)| c == cat && n == name);
                                a.tag.on[on] href=(tag_link(cat, name)) aria-pressed=(if on { "true" } else { "false" }) role="button" {
                                    (name) " (" (count) ")"
                                }
                            }
                        }
                    }
                }
                section aria-label="Studies" {
                    @if v.studies.is_empty() { p { "No study matches." } }
                    @for s in &v.studies {
                        article.card.study {
                            h2.flush { a href={ "/discovery/" (url_encode(&s.guid)) } { (s.name) } }
                            p.muted {
                                @if let Some(c) = &s.commons { "Commons: " (c) " · " }
                                @if let Some(n) = s.subjects { (n) " subjects · " }
                                @if s.accessible { span.ok { "You have access" } } @else { "Access not granted" }
                            }
                            @if let Some(summary) = &s.summary { p { (summary) } }
                            p { @for (c, n) in &s.tags { span.tag title=(c) { (n) } } }
                        }
                    }
                }
            }
        };
        self.shell(Some(Page::Discovery), viewer, "Discovery", &body, &[])
    }

    /// `/discovery/{guid}`: one study's metadata and links to its data.
    #[must_use]
    pub fn study(&self, viewer: &Viewer, v: &StudyView) -> Markup {
        let s = &v.study;
        let body = html! {
            p { a href="/discovery" { "← Discovery" } }
            h1 { (s.name) }
            p.muted { "GUID " code { (s.guid) } @if let Some(c) = &s.commons { " · commons " (c) } }
            @if let Some(summary) = &s.summary { p { (summary) } }
            p { @for (c, n) in &s.tags { span.tag title=(c) { (c) ": " (n) } } }
            @if !v.files.is_empty() {
                h2 { "Data" }
                table #study-files {
                    thead { tr { th scope="col" { "File" } th scope="col" { "Object id" } th.num scope="col" { "Size" } } }
                    tbody {
                        @for (id, name, size, link) in &v.files {
                            tr { td { a href=(link) { (name) } } td { code { (id) } } td.num { @if let Some(b) = size { (human_bytes(*b)) } } }
                        }
                    }
                }
            }
            h2 { "Metadata" }
            (metadata_table(&v.metadata))
        };
        self.shell(Some(Page::Discovery), viewer, &s.name, &body, &[])
    }

    /// `/files`: look a GUID up, and the newest records.
    #[must_use]
    pub fn files(&self, viewer: &Viewer, recent: &[FileView]) -> Markup {
        let body = html! {
            h1 { "Files" }
            form method="get" action="/files" {
                label for="guid" { "Find a file by GUID" } " "
                input #guid type="text" name="guid" size="44";
                " " button type="submit" { "Open" }
            }
            h2 { "Files in this commons" }
            @if recent.is_empty() { p.muted { "None yet." } } @else {
                table #files {
                    thead { tr { th scope="col" { "File" } th scope="col" { "GUID" } th.num scope="col" { "Size" } th scope="col" { "Access" } } }
                    tbody {
                        @for f in recent {
                            tr { td { a href={ "/files/" (f.guid) } { (f.file_name.as_deref().unwrap_or("(unnamed)")) } }
                                td { code { (f.guid) } } td.num { @if let Some(b) = f.size { (human_bytes(b)) } }
                                td { (f.authz.join(", ")) } }
                        }
                    }
                }
            }
        };
        self.shell(Some(Page::Files), viewer, "Files", &body, &[])
    }

    /// `/files/{guid}`: one record, and a download through its signed URL.
    #[must_use]
    pub fn file(&self, viewer: &Viewer, f: &FileView) -> Markup {
        let name = f.file_name.clone().unwrap_or_else(|| f.guid.clone());
        let body = html! {
            p { a href="/files" { "← Files" } }
            h1 { (name) }
            dl.record {
                dt { "GUID" } dd #guid { code { (f.guid) } }
                dt { "File name" } dd { (f.file_name.as_deref().unwrap_or("")) }
                dt { "Size" } dd #size { @if let Some(b) = f.size { (b) " bytes (" (human_bytes(b)) ")" } }
                @for (k, h) in &f.hashes { dt { (k) } dd { code { (h) } } }
                dt { "Access (authz)" } dd #authz { (f.authz.join(", ")) }
                @if let Some(v) = &f.version { dt { "Version" } dd { (v) } }
                @if let Some(u) = &f.updated { dt { "Updated" } dd { (u) } }
                dt { "Locations" } dd { (f.urls) }
            }
            p { a #download.button href={ "/user/data/download/" (f.guid) "?redirect=true" }
                download=(f.file_name.as_deref().unwrap_or("")) { "Download" } }
            p.muted { "The download goes through a signed URL that expires; you need read access to "
                (f.authz.join(", ")) "." }
            p { "Also as " a href={ "/ga4gh/drs/v1/objects/" (f.guid) } { "a DRS object" } " and "
                a href={ "/index/index/" (f.guid) } { "an index record" } "." }
        };
        self.shell(Some(Page::Files), viewer, &name, &body, &[])
    }

    /// `/workspace`: launch a notebook next to the data, watch it start, open it, stop it;
    /// the user's pay model and manifests. The page is a shell the workspace script fills
    /// from hatchery's API (`/lw-workspace/`) and manifestservice (`/manifests/`), as
    /// Gen3's portal does; without JavaScript it says what a workspace is.
    #[must_use]
    pub fn workspace(&self, viewer: &Viewer) -> Markup {
        let body = html! {
            h1 { "Workspace" }
            p { "A workspace is a notebook (JupyterLab) that runs next to this commons' data. "
                "It holds an API key of yours, so the Gen3 SDK in it acts as you, and the "
                "manifests you export from Exploration are in its " code { "manifests/" }
                " folder. Your files in it are kept from one workspace to the next." }
            @if viewer.username.is_none() {
                p.notice #ws-login { a href="/login?next=/workspace" { "Log in" } " to launch a workspace." }
            } @else {
                noscript {
                    p.notice { "This page needs JavaScript to launch and watch a workspace. "
                        "Programs use hatchery's API at " code { "/lw-workspace/" } " ("
                        a href="/api/" { "API browser" } ")." }
                }
                p #ws-unavailable .notice.error role="alert" hidden {}
                div #ws {
                    section aria-labelledby="ws-status-h" {
                        h2 #ws-status-h tabindex="-1" { "Your workspace" }
                        p #ws-state role="status" aria-live="polite" { "Loading…" }
                        ol #ws-conditions .steps aria-label="Launch steps" hidden {}
                        p #ws-message .notice hidden {}
                        p #ws-details .muted hidden {}
                        p.actions {
                            a #ws-open .button.big href="/lw-workspace/proxy/lab" hidden { "Open notebook" }
                            button #ws-terminate type="button" .secondary hidden { "Terminate" }
                            button #ws-clear type="button" .secondary hidden { "Clear" }
                        }
                    }
                    section aria-labelledby="ws-kinds-h" {
                        h2 #ws-kinds-h { "Launch a workspace" }
                        p.muted { "One workspace runs at a time; it stops after its idle limit without activity." }
                        div #ws-kinds .grid { p.muted { "Loading…" } }
                    }
                    section aria-labelledby="ws-paymodel-h" {
                        h2 #ws-paymodel-h { "Pay model" }
                        div #ws-paymodel { p.muted { "Loading…" } }
                    }
                    section aria-labelledby="ws-manifests-h" {
                        h2 #ws-manifests-h { "Your manifests" }
                        p { "Manifests list files by " code { "object_id" } ". Export one from "
                            @if self.serves(Page::Explorer) { a href="/explorer" { "Exploration" } } @else { "Exploration" }
                            " (" em { "Export to workspace" } "). Each is in your workspace under "
                            code { "manifests/" } ": placed at launch, and at once in a running workspace." }
                        p #ws-exported .ok role="status" hidden {}
                        table #ws-manifests {
                            caption.visually-hidden { "Your manifests" }
                            thead { tr { th scope="col" { "File" } th scope="col" { "Created" } } }
                            tbody { tr { td colspan="2" .muted { "Loading…" } } }
                        }
                    }
                }
            }
        };
        let scripts: &[&str] = if viewer.username.is_some() {
            &["portal.js", "workspace.js"]
        } else {
            &[]
        };
        self.shell(Some(Page::Workspace), viewer, "Workspace", &body, scripts)
    }

    /// A page that is not there (404), or an error worded for people.
    #[must_use]
    pub fn message(&self, viewer: &Viewer, title: &str, text: &str) -> Markup {
        let body = html! { h1 { (title) } p { (text) } p { a href="/" { "Home" } } };
        self.shell(None, viewer, title, &body, &[])
    }
}

/// A property's type as people read it: its enum values, or its JSON types.
fn type_label(p: &Property) -> String {
    if let Some(values) = p.schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect();
        return format!("enum: {}", names.join(", "));
    }
    let k = &p.kinds;
    let mut kinds = Vec::new();
    for (on, name) in [
        (k.string, "string"),
        (k.integer, "integer"),
        (k.number, "number"),
        (k.boolean, "boolean"),
        (k.array, "array"),
        (k.object, "object"),
    ] {
        if on {
            kinds.push(name);
        }
    }
    if kinds.is_empty() {
        "any".into()
    } else {
        kinds.join(" | ")
    }
}

/// A JSON object as a two-column table, nested values as JSON text.
fn metadata_table(v: &Value) -> Markup {
    html! {
        @if let Some(map) = v.as_object() {
            table.metadata {
                tbody {
                    @for (k, val) in map {
                        @if !k.starts_with("__") {
                            tr { th scope="row" { (k) } td { @match val {
                                Value::String(s) => (s),
                                Value::Null => "",
                                other => code { (other.to_string()) },
                            } } }
                        }
                    }
                }
            }
        }
    }
}

/// JSON safe inside a `<script>` element.
fn json_for_script(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c)
            .collect::<String>()
            .replace('_', " "),
        None => String::new(),
    }
}

/// Bytes as people read them.
#[must_use]
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Percent-encoding for a query value or a path segment.
#[must_use]
pub fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
