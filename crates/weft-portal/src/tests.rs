use weft_config::PortalConfig;
use weft_dictionary::Dictionary;

use crate::pages::{DiscoveryView, ExplorerField, ExplorerIndex, Study};
use crate::{DictionaryGraph, Page, Portal, Viewer};

fn portal() -> Portal {
    Portal::new(&PortalConfig::default(), "t").expect("default config")
}

fn gdc() -> Option<Dictionary> {
    let dir = weft_dictionary::testing::real_dictionaries()?;
    Some(Dictionary::from_dir(&dir.join("gdcdictionary-1.2.0")).expect("gdcdictionary loads"))
}

#[test]
fn bad_configuration_is_refused_with_what_is_wrong() {
    let mut c = PortalConfig::default();
    c.colors.primary = "red; background:url(x)".into();
    let e = Portal::new(&c, "t").unwrap_err();
    assert!(e.0.contains("colors.primary"), "{e}");

    let c = PortalConfig {
        pages: vec!["home".into(), "shop".into()],
        ..PortalConfig::default()
    };
    assert!(Portal::new(&c, "t").unwrap_err().0.contains("\"shop\""));

    let c = PortalConfig {
        logo: Some("/nonexistent/logo.svg".into()),
        ..PortalConfig::default()
    };
    assert!(Portal::new(&c, "t").unwrap_err().0.contains("logo"));
}

#[test]
fn only_the_configured_pages_are_in_the_navigation() {
    let c = PortalConfig {
        pages: vec!["home".into(), "discovery".into()],
        ..PortalConfig::default()
    };
    let p = Portal::new(&c, "t").unwrap();
    assert!(p.serves(Page::Discovery) && !p.serves(Page::Explorer));
    let html = p.workspace(&Viewer::default()).into_string();
    assert!(html.contains(r#"href="/discovery""#));
    assert!(!html.contains(r#"href="/explorer""#));
    assert!(!html.contains(r#"href="/login""#), "login is not served");
    assert!(p.theme_css.contains("--primary:#1d4f73"));
}

#[test]
fn text_from_data_is_escaped() {
    let p = portal();
    let v = DiscoveryView {
        q: "\"><script>alert(1)</script>".into(),
        total: 1,
        studies: vec![Study {
            guid: "g/1".into(),
            name: "<img src=x onerror=alert(1)>".into(),
            commons: None,
            summary: None,
            tags: vec![("Data Type".into(), "<b>WGS</b>".into())],
            subjects: Some(3),
            accessible: false,
        }],
        ..DiscoveryView::default()
    };
    let html = p.discovery(&Viewer::default(), &v).into_string();
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("href=\"/discovery/g%2F1\""));
}

#[test]
fn the_viewer_and_current_page_are_marked() {
    let p = portal();
    let who = Viewer {
        username: Some("ann@example.org".into()),
    };
    let html = p.files(&who, &[]).into_string();
    assert!(
        html.contains(r#"<a href="/files" aria-current="page">Files</a>"#),
        "{html}"
    );
    assert!(html.contains("ann@example.org"));
    assert!(html.contains("/user/logout"));
    let anon = p.files(&Viewer::default(), &[]).into_string();
    assert!(anon.contains(r#"href="/login""#) && !anon.contains("/user/logout"));
}

#[test]
fn explorer_tabs_default_to_one_per_index_with_their_fields() {
    let p = portal();
    let idx = vec![ExplorerIndex {
        doc_type: "case".into(),
        fields: vec![
            ExplorerField {
                name: "_case_id".into(),
                number: false,
            },
            ExplorerField {
                name: "submitter_id".into(),
                number: false,
            },
            ExplorerField {
                name: "project_id".into(),
                number: false,
            },
            ExplorerField {
                name: "gender".into(),
                number: false,
            },
            ExplorerField {
                name: "age".into(),
                number: true,
            },
        ],
    }];
    let html = p
        .explorer(
            &Viewer::default(),
            &idx,
            &serde_json::json!({"level": "private"}),
        )
        .into_string();
    let start = html.find(r#"type="application/json">"#).unwrap() + 24;
    let end = start + html[start..].find("</script>").unwrap();
    let config: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    let tab = &config["tabs"][0];
    assert_eq!(tab["title"], "Case");
    assert_eq!(tab["type"], "case");
    let facets: Vec<&str> = tab["facets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(facets, ["gender", "age"]);
    assert_eq!(tab["facets"][1]["number"], true);
    assert_eq!(
        tab["table"],
        serde_json::json!(["submitter_id", "project_id", "gender", "age"])
    );
}

#[test]
fn the_dictionary_graph_puts_each_type_below_what_it_links_to() {
    let Some(dict) = gdc() else { return };
    let g = DictionaryGraph::layout(&dict);
    let at = |id: &str| {
        g.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    assert_eq!(at("program").layer, 0);
    assert_eq!(at("project").layer, 1);
    assert!(at("case").layer > at("project").layer);
    assert!(at("aliquot").layer > at("sample").layer);
    assert!(g.edges.contains(&("project".into(), "program".into())));
    // No two boxes overlap.
    for a in &g.nodes {
        for b in &g.nodes {
            if a.id != b.id {
                assert!(a.x != b.x || a.y != b.y, "{} and {} overlap", a.id, b.id);
            }
        }
    }
    let svg = g.svg().into_string();
    assert!(svg.contains(r#"<a href="/dd/case""#));
    assert_eq!(svg.matches("<rect").count(), g.nodes.len());
}

#[test]
fn a_node_page_lists_properties_with_types_enums_and_required_marks() {
    let Some(dict) = gdc() else { return };
    let p = portal();
    let html = p
        .dictionary_node(&Viewer::default(), dict.node("demographic").unwrap())
        .into_string();
    assert!(html.contains("<code>gender</code>"));
    assert!(html.contains("enum: female, male"), "gender's enum values");
    assert!(html.contains("<strong>required</strong>"));
    assert!(html.contains("/api/v0/submission/template/demographic?format=tsv"));
}

#[test]
fn the_workspace_page_asks_a_stranger_to_log_in() {
    let p = portal();
    let html = p.workspace(&Viewer::default()).into_string();
    assert!(html.contains("<h1>Workspace</h1>"), "{html}");
    assert!(
        html.contains(r#"<a href="/login?next=/workspace">Log in</a> to launch a workspace."#),
        "{html}"
    );
    // it says what a workspace is, without a script
    assert!(html.contains("JupyterLab"), "{html}");
    assert!(html.contains("<code>manifests/</code>"), "{html}");
    assert!(!html.contains("workspace.js"), "{html}");
    assert!(!html.contains(r#"id="ws-state""#), "{html}");
    assert!(
        html.contains(r#"<a href="/workspace" aria-current="page">Workspace</a>"#),
        "{html}"
    );
}

#[test]
fn the_workspace_page_is_a_shell_the_script_fills_for_a_user() {
    let p = portal();
    let who = Viewer {
        username: Some("ann@example.org".into()),
    };
    let html = p.workspace(&who).into_string();
    assert!(!html.contains("/login?next=/workspace"), "{html}");
    let v = &p.asset_version;
    for s in ["portal.js", "workspace.js"] {
        assert!(
            html.contains(&format!(r#"<script src="/portal/assets/{s}?v={v}" defer>"#)),
            "{s}: {html}"
        );
    }
    // the status is a live region; the notebook link and the buttons wait for the script
    assert!(
        html.contains(r#"<p id="ws-state" role="status" aria-live="polite">Loading…</p>"#),
        "{html}"
    );
    assert!(
        html.contains(
            r#"<a class="button big" id="ws-open" href="/lw-workspace/proxy/lab" hidden>Open notebook</a>"#
        ),
        "{html}"
    );
    for id in ["ws-terminate", "ws-clear"] {
        assert!(
            html.contains(&format!(
                r#"<button class="secondary" id="{id}" type="button" hidden>"#
            )),
            "{id}: {html}"
        );
    }
    assert!(
        html.contains(r#"<p class="notice error" id="ws-unavailable" role="alert" hidden>"#),
        "{html}"
    );
    for (id, heading) in [
        ("ws-status-h", "Your workspace"),
        ("ws-kinds-h", "Launch a workspace"),
        ("ws-paymodel-h", "Pay model"),
        ("ws-manifests-h", "Your manifests"),
    ] {
        assert!(
            html.contains(&format!(r#"<section aria-labelledby="{id}">"#)),
            "{id}: {html}"
        );
        assert!(
            html.contains(&format!(">{heading}</h2>")),
            "{heading}: {html}"
        );
    }
    assert!(html.contains(r#"<table id="ws-manifests">"#), "{html}");
    // without JavaScript it says what to do instead
    let noscript = &html[html.find("<noscript>").unwrap()..html.find("</noscript>").unwrap()];
    assert!(
        noscript.contains("<code>/lw-workspace/</code>"),
        "{noscript}"
    );
    // no inline script or style: the CSP forbids them
    assert!(!html.contains("style="), "{html}");
    assert_eq!(html.matches("<script").count(), 2, "{html}");
}

#[test]
fn the_explorer_exports_to_the_workspace_only_when_that_page_is_served() {
    let idx = vec![ExplorerIndex {
        doc_type: "file".into(),
        fields: vec![
            ExplorerField {
                name: "object_id".into(),
                number: false,
            },
            ExplorerField {
                name: "file_name".into(),
                number: false,
            },
        ],
    }];
    let tier = serde_json::json!({});
    let button = r#"<button class="secondary" id="export-workspace" type="button">Export to workspace</button>"#;
    let html = portal()
        .explorer(&Viewer::default(), &idx, &tier)
        .into_string();
    assert!(html.contains(button), "{html}");
    assert!(html.contains(r#"id="download-manifest""#), "{html}");
    let c = PortalConfig {
        pages: vec!["home".into(), "explorer".into()],
        ..PortalConfig::default()
    };
    let p = Portal::new(&c, "t").unwrap();
    let html = p.explorer(&Viewer::default(), &idx, &tier).into_string();
    assert!(!html.contains("export-workspace"), "{html}");
    assert!(html.contains(r#"id="download-manifest""#), "{html}");
}

#[test]
fn every_script_a_page_names_is_a_static_file() {
    for name in [
        "portal.css",
        "portal.js",
        "identity.js",
        "submission.js",
        "explorer.js",
        "workspace.js",
    ] {
        let a = crate::assets::get(name).unwrap_or_else(|| panic!("{name}"));
        assert!(!a.body.is_empty(), "{name}");
    }
    let ws = crate::assets::get("workspace.js").unwrap();
    assert_eq!(ws.content_type, "text/javascript; charset=utf-8");
    for api in [
        "/lw-workspace/options",
        "/lw-workspace/launch?id=",
        "/lw-workspace/status",
        "/lw-workspace/terminate",
        "/lw-workspace/paymodels",
        "/manifests/",
    ] {
        assert!(ws.body.contains(api), "workspace.js calls {api}");
    }
    let explorer = crate::assets::get("explorer.js").unwrap();
    assert!(
        explorer
            .body
            .contains(r#"api("POST", "/manifests/", entries)"#)
    );
}
