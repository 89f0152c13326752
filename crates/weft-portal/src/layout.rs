//! The frame of every page: head, skip link, navigation bar, main landmark, footer.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::{Page, Portal};

/// Who is looking: the logged-in user, if any.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    pub username: Option<String>,
}

/// weft's mark, when no logo is configured.
const MARK: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" aria-hidden="true" focusable="false"><rect width="32" height="32" rx="6" fill="#fff"/><path d="M5 9h22M5 16h22M5 23h22" stroke="#1d4f73" stroke-width="3"/><path d="M10 5v22M22 5v22" stroke="#b3471d" stroke-width="3"/></svg>"##;

impl Portal {
    /// A whole page: `title` (also the `<h1>`'s text when the body has none of its own),
    /// the navigation with `current` marked, `body` in `<main>`, `scripts` at the end.
    #[must_use]
    pub fn shell(
        &self,
        current: Option<Page>,
        viewer: &Viewer,
        title: &str,
        body: &Markup,
        scripts: &[&str],
    ) -> Markup {
        let v = &self.asset_version;
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · " (self.name) }
                    link rel="icon" href="data:,";
                    link rel="stylesheet" href={ "/portal/assets/portal.css?v=" (v) };
                    link rel="stylesheet" href={ "/portal/theme.css?v=" (v) };
                }
                body {
                    a.skip href="#content" { "Skip to content" }
                    header.top {
                        div.bar {
                            a.brand href="/" {
                                @if self.logo.is_some() {
                                    img src={ "/portal/logo?v=" (v) } alt="";
                                } @else {
                                    (PreEscaped(MARK))
                                }
                                span { (self.name) }
                            }
                            nav.main aria-label="Main" {
                                ul {
                                    @for page in Page::ALL {
                                        @if self.serves(page) && !matches!(page, Page::Login | Page::Identity) {
                                            li {
                                                a href=(page.path())
                                                    aria-current=[(current == Some(page)).then_some("page")] {
                                                    (page.label())
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                            div.who {
                                @if let Some(user) = &viewer.username {
                                    @if self.serves(Page::Identity) {
                                        a href="/identity" aria-current=[(current == Some(Page::Identity)).then_some("page")] {
                                            span.visually-hidden { "Profile of " } (user)
                                        }
                                    } @else {
                                        span { (user) }
                                    }
                                    a href="/user/logout?next=/" { "Log out" }
                                } @else if self.serves(Page::Login) {
                                    a href="/login" aria-current=[(current == Some(Page::Login)).then_some("page")] { "Log in" }
                                }
                            }
                        }
                    }
                    main id="content" tabindex="-1" {
                        (body)
                    }
                    footer {
                        (self.name) " · served by weft · "
                        a href="/api/" { "API browser" } " · "
                        a href="/_status" { "status" }
                    }
                    @for s in scripts {
                        script src={ "/portal/assets/" (s) "?v=" (v) } defer {}
                    }
                }
            }
        }
    }
}
