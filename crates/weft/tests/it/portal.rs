//! The web portal over HTTP: each page at Gen3's portal path, filled from the services with
//! the caller's rights; the session gateway (a browser's session cookie works on every API,
//! changes need the CSRF value); the calls Gen3's portals make on start. The browser itself
//! is tested in `tests/portal/` (Playwright and Chromium).

#![allow(clippy::unwrap_used)] // a failed step should panic with its cause

use reqwest::Method;
use serde_json::{Value, json};
use weft_dictionary::testing::REAL;

use crate::submission::{READER, SUBMITTER, app_with, graph, submit};
use crate::support::{Resp, TestApp, browser, mock_login};

const ALICE: &str = "alice@weft.test";

async fn page(b: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = b.get(format!("{}{path}", app.url)).send().await.unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
    }
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn every_page_answers_and_the_session_gateway_guards_changes() {
    let app = TestApp::start_with(|c| c.login.mock_user = Some(ALICE.into())).await;
    let b = browser();
    // anonymous: each page is there, the navigation offers a login
    for path in [
        "/",
        "/login",
        "/identity",
        "/discovery",
        "/files",
        "/workspace",
    ] {
        let (status, html) = page(&b, &app, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(
            html.contains(r#"<nav class="main" aria-label="Main">"#),
            "{path}"
        );
        assert!(html.contains(r#"href="/login""#), "{path}");
        assert!(html.contains(r#"<main id="content""#), "{path}");
    }
    // without a dictionary the graph's pages are not served, nor in the navigation
    for path in ["/dd", "/submission", "/explorer"] {
        let (status, html) = page(&b, &app, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains("does not serve this page"), "{html}");
    }
    let (_, html) = page(&b, &app, "/").await;
    assert!(!html.contains(r#"href="/dd""#), "{html}");
    let (_, html) = page(&b, &app, "/login").await;
    assert!(
        html.contains(r#"href="/user/login/mock?redirect=%2F""#),
        "{html}"
    );
    // an open redirect is not offered
    let (_, html) = page(&b, &app, "/login?next=//evil.example").await;
    assert!(html.contains("redirect=%2F\""), "{html}");

    // /_status hands out the CSRF value and sets its cookie once
    let r = b.get(format!("{}/_status", app.url)).send().await.unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("csrftoken="), "{set}");
    let csrf = Resp::read(r).await.json["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(csrf.len(), 32);
    let r = b.get(format!("{}/_status", app.url)).send().await.unwrap();
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(Resp::read(r).await.json["csrf"], csrf.as_str());

    // logged in: the session cookie works on the APIs, as a bearer token would
    mock_login(&app, &b).await;
    let (_, html) = page(&b, &app, "/identity").await;
    assert!(html.contains(ALICE), "{html}");
    assert!(html.contains("/user/logout"), "{html}");
    let r = b
        .get(format!("{}/authz/mapping", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let who = b
        .get(format!("{}/user/user", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(Resp::read(who).await.json["username"], ALICE);

    // a change with the cookie alone is refused: no CSRF value, no Origin of ours
    let keys = format!("{}/user/credentials/api/", app.url);
    let r = Resp::read(b.post(&keys).json(&json!({})).send().await.unwrap()).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.json["error"].as_str().unwrap().contains("x-csrf-token"));
    let r = b
        .post(&keys)
        .header("x-csrf-token", "wrong-value-wrong-value")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = b
        .post(&keys)
        .header("origin", "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // with the CSRF value: a key is made, listed, and revoked
    let r = Resp::read(
        b.post(&keys)
            .header("x-csrf-token", &csrf)
            .json(&json!({"scope": ["data", "user"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let key_id = r.json["key_id"].as_str().unwrap().to_owned();
    assert!(r.json["api_key"].as_str().unwrap().len() > 100);
    let list = Resp::read(b.get(&keys).send().await.unwrap()).await;
    assert_eq!(list.json["jtis"][0]["jti"], key_id.as_str());
    let r = b
        .delete(format!("{keys}{key_id}"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let list = Resp::read(b.get(&keys).send().await.unwrap()).await;
    assert_eq!(list.json["jtis"], json!([]));

    // a bearer token is taken as it is: no CSRF check (the SDK's calls), its own scopes
    let t = app.token(ALICE);
    let r = app
        .call(
            Method::POST,
            "/user/credentials/api/",
            Some(json!({})),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("scope credentials"), "{}", r.text);

    // after logging out the cookie speaks for nobody
    let r = b
        .get(format!("{}/user/logout?next=/", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let who = b
        .get(format!("{}/user/user", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(who.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn static_files_and_gen3_portal_start_up_calls() {
    let app = TestApp::start().await;
    for (name, ct) in [
        ("portal.css", "text/css"),
        ("portal.js", "text/javascript"),
        ("explorer.js", "text/javascript"),
        ("submission.js", "text/javascript"),
        ("identity.js", "text/javascript"),
    ] {
        let r = app
            .client
            .get(format!("{}/portal/assets/{name}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(ct),
            "{name}"
        );
        assert!(!r.text().await.unwrap().is_empty());
    }
    let r = app.get("/portal/assets/../../etc/passwd").await;
    assert_eq!(r.status, 404);
    let r = app.get("/portal/assets/nope.js").await;
    assert_eq!(r.status, 404);
    assert!(r.json.is_object(), "{}", r.text);
    let r = app.get("/portal/theme.css").await;
    assert!(r.text.contains("--primary:#1d4f73"), "{}", r.text);
    assert_eq!(app.get("/portal/logo").await.status, 404);

    // what Gen3's data-portal asks on start
    let r = app.get("/api/_version").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["version"], weft::VERSION);
    let r = app.get("/authz/mapping").await;
    assert_eq!(r.status, 200);
    assert!(r.json.is_object());
    let r = app
        .get("/authz?resource=/programs&method=read&service=peregrine")
        .await;
    assert!(matches!(r.status, 200 | 401 | 403), "{}", r.text);
    let r = app.get("/_status").await;
    assert!(r.json["csrf"].is_string(), "{}", r.text);
    app.stop().await;
}

#[tokio::test]
async fn the_portal_can_be_turned_off_and_configured() {
    let app = TestApp::start_with(|c| c.portal.enabled = false).await;
    let r = app.get("/").await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains(r#"href="/api/""#), "{}", r.text);
    assert!(!r.text.contains("<nav"), "{}", r.text);
    assert_eq!(app.get("/discovery").await.status, 404);
    app.stop().await;

    let app = TestApp::start_with(|c| {
        c.portal.name = "Example Commons".into();
        c.portal.pages = vec!["home".into(), "files".into()];
        c.portal.colors.primary = "#224466".into();
    })
    .await;
    let r = app.get("/").await;
    assert!(r.text.contains("<h1>Example Commons</h1>"), "{}", r.text);
    assert!(r.text.contains(r#"href="/files""#));
    assert!(!r.text.contains(r#"href="/discovery""#));
    assert_eq!(app.get("/discovery").await.status, 404);
    assert!(app.get("/portal/theme.css").await.text.contains("#224466"));
    app.stop().await;
}

/// A commons with the gdc dictionary, a submission, a file record, discovery studies.
async fn commons() -> Option<TestApp> {
    let app = app_with(REAL[0], false, |c| {
        c.login.mock_user = Some(SUBMITTER.into());
    })
    .await?;
    let r = submit(&app, Method::POST, graph()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.grant(READER, "guppy", "read", "/programs/P/projects/Q")
        .await;
    // Gen3's portal lists projects through peregrine: its readers see them
    app.grant(SUBMITTER, "peregrine", "read", "/programs/P/projects/Q")
        .await;
    Some(app)
}

#[tokio::test]
async fn graph_pages_show_what_the_viewer_may_read() {
    let Some(app) = commons().await else { return };
    let b = browser();
    // anonymous: no projects, the dictionary is public
    let (status, html) = page(&b, &app, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("Log in to see the projects"), "{html}");
    let (status, html) = page(&b, &app, "/dd").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"<a href="/dd/case""#), "{html}");
    let (status, html) = page(&b, &app, "/dd/demographic").await;
    assert_eq!(status, 200);
    assert!(html.contains("enum: female, male"), "{html}");
    let (status, _) = page(&b, &app, "/dd/no_such_node").await;
    assert_eq!(status, 404);
    let (status, _) = page(&b, &app, "/submission/P-Q").await;
    assert_eq!(status, 401);

    // the submitter: counts per project and type, the transaction, the upload form
    mock_login(&app, &b).await;
    let (_, html) = page(&b, &app, "/").await;
    assert!(
        html.contains(r#"<a href="/submission/P-Q">P-Q</a>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<th class="num" scope="col">case</th>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<td class="num">2</td>"#),
        "case count 2: {html}"
    );
    // the submission of `graph()`: its project, submitter, state and size
    let recent = &html[html.find("Recent submissions").unwrap()..];
    assert!(
        recent.contains(&format!("<td>P-Q</td><td>{SUBMITTER}</td>"))
            && recent.contains("<td>SUCCEEDED</td><td class=\"num\">"),
        "{recent}"
    );
    // the counts are remembered only until the graph changes
    let r = submit(
        &app,
        Method::POST,
        json!([{"type": "case", "submitter_id": "case-3", "experiments": {"submitter_id": "exp-1"}}]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (_, html) = page(&b, &app, "/").await;
    assert!(
        html.contains(r#"<td class="num">3</td>"#),
        "case count 3: {html}"
    );
    let counts = app
        .call(
            Method::GET,
            "/api/search/datasets?nodes=case",
            None,
            Some(&app.token(SUBMITTER)),
        )
        .await;
    assert_eq!(counts.json, json!({"P-Q": {"case": 3}}));
    let (_, html) = page(&b, &app, "/submission").await;
    assert!(
        html.contains("case: 3") && html.contains("sample: 1"),
        "{html}"
    );
    let (status, html) = page(&b, &app, "/submission/P-Q").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<form id="upload" data-program="P" data-project="Q">"#),
        "{html}"
    );
    assert!(html.contains(r#"<option value="case">case</option>"#));
    let (status, _) = page(&b, &app, "/submission/P-NOPE").await;
    assert_eq!(status, 404);

    // the explorer's page carries its tabs and fields for its script
    let (_, html) = page(&b, &app, "/explorer").await;
    let start = html.find(r#"type="application/json">"#).unwrap() + 24;
    let end = start + html[start..].find("</script>").unwrap();
    let config: Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(config["tabs"][0]["type"], "case");
    assert_eq!(config["tabs"][1]["type"], "file");
    assert_eq!(config["tier"]["levels"]["case"], "private");
    assert!(
        config["tabs"][0]["facets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "year_of_birth" && f["number"] == true),
        "{config}"
    );
    app.stop().await;
}

#[tokio::test]
async fn discovery_and_file_pages() {
    let Some(app) = commons().await else { return };
    let admin = app.token(crate::support::ROOT);
    app.grant(
        crate::support::ROOT,
        "mds_gateway",
        "access",
        "/mds_gateway",
    )
    .await;
    let rec = app
        .create(
            json!({"file_name": "reads.bam", "size": 1234, "authz": ["/programs/P/projects/Q"]}),
        )
        .await;
    for (guid, name, tag) in [
        ("study-1", "Lung <b>study</b>", "WGS"),
        ("study-2", "Heart atlas", "RNA-Seq"),
    ] {
        let r = app
            .call(
                Method::POST,
                &format!("/mds-admin/metadata/{guid}"),
                Some(json!({
                    "_guid_type": "discovery_metadata",
                    "gen3_discovery": {
                        "name": name, "summary": format!("About {name}"),
                        "authz": "/programs/P/projects/Q", "_subjects_count": 7,
                        "tags": [{"category": "Data Type", "name": tag}],
                        "commons_url": app.url,
                        "__manifest": [{"object_id": rec.did, "file_name": "reads.bam", "file_size": 1234}],
                    }
                })),
                Some(&admin),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let b = browser();
    let (_, html) = page(&b, &app, "/discovery").await;
    assert!(html.contains("2 studies match"), "{html}");
    assert!(
        html.contains("Lung &lt;b&gt;study&lt;/b&gt;"),
        "escaped: {html}"
    );
    assert!(html.contains("Heart atlas"));
    assert!(html.contains("RNA-Seq (1)"), "tag facet: {html}");
    let (_, html) = page(&b, &app, "/discovery?q=heart").await;
    assert!(
        html.contains("1 studies match") && !html.contains("Lung"),
        "{html}"
    );
    let (_, html) = page(&b, &app, "/discovery?tag=Data+Type:WGS").await;
    assert!(
        html.contains("Lung") && !html.contains("Heart atlas"),
        "{html}"
    );
    assert!(html.contains("Access not granted"), "anonymous: {html}");
    // a study page links its files to their pages
    let (status, html) = page(&b, &app, "/discovery/study-1").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!(r#"href="{}/files/{}""#, app.url, rec.did)),
        "{html}"
    );
    assert_eq!(page(&b, &app, "/discovery/nope").await.0, 404);

    // the file page: GUID, size, hashes, authz, and the download through fence
    let (status, html) = page(&b, &app, &format!("/files/{}", rec.did)).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("reads.bam") && html.contains("1234 bytes"),
        "{html}"
    );
    assert!(html.contains(crate::support::MD5), "{html}");
    assert!(html.contains("/programs/P/projects/Q"));
    assert!(html.contains(&format!(
        r#"href="/user/data/download/{}?redirect=true""#,
        rec.did
    )));
    let (_, html) = page(&b, &app, "/files").await;
    assert!(html.contains(&rec.did), "{html}");
    let r = b
        .get(format!("{}/files?guid={}", app.url, rec.did))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(page(&b, &app, "/files/no-such-guid").await.0, 404);

    // logged in with read access: the study shows as accessible
    mock_login(&app, &b).await;
    let (_, html) = page(&b, &app, "/discovery").await;
    assert!(html.contains("You have access"), "{html}");
    app.stop().await;
}
