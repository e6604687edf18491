//! The shihua web app: the HTML shell, the router and the root component. Pages and
//! components live in their own modules; the search types and the port in `search`, the
//! server functions in `api`, every URL in `url`.

pub mod api;
pub mod assets;
pub mod components;
pub mod downscale;
pub mod filters;
pub mod html;
pub mod i18n;
pub mod pages;
pub mod poems;
pub mod query;
pub mod search;
pub mod security;
pub mod url;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Meta, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    SsrMode, StaticSegment,
};

use crate::assets::SiteAssets;
use crate::i18n::{use_lang, Lang};
use crate::pages::home::HomePage;

/// The HTML document the server renders around the app, in the visitor's language. The
/// stylesheet and the client are named by `SiteAssets` (content-hashed in release builds,
/// under the base path); the boot script carries this response's CSP nonce.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let lang = i18n::request_lang();
    #[cfg(not(feature = "ssr"))]
    let lang = Lang::default();
    provide_context(RwSignal::new(lang));
    #[cfg(feature = "ssr")]
    let nonce = security::page_nonce();
    #[cfg(not(feature = "ssr"))]
    let nonce = None::<String>;
    let assets = use_context::<SiteAssets>().unwrap_or_default();
    view! {
        <!DOCTYPE html>
        <html
            lang=lang.code()
            data-base=assets.base.clone()
            data-public-url=(!assets.public_url.is_empty()).then(|| assets.public_url.clone())
        >
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <link rel="stylesheet" href=assets.pkg(&assets.css) />
                <link rel="icon" href=format!("{}/favicon.svg", assets.base) r#type="image/svg+xml" />
                <link rel="modulepreload" href=assets.pkg(&assets.js) />
                <link
                    rel="preload"
                    href=assets.pkg(&assets.wasm)
                    r#as="fetch"
                    r#type="application/wasm"
                    crossorigin=""
                    fetchpriority="high"
                />
                <script type="module" nonce=nonce>
                    {assets.boot_script()}
                </script>
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The root component: meta tags, stylesheet and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // On the server the shell has chosen the language; in the browser, read what it chose.
    if use_context::<RwSignal<Lang>>().is_none() {
        #[cfg(not(feature = "ssr"))]
        provide_context(RwSignal::new(i18n::document_lang()));
        #[cfg(feature = "ssr")]
        provide_context(RwSignal::new(Lang::default()));
    }
    let lang = use_lang();
    // Keep <html lang> in step with the switch (screen readers, fonts, the next reload).
    Effect::new(move |_| {
        let code = lang.get().code();
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("lang", code);
        }
    });

    // Under a reverse proxy's sub-path (`--base-path`) routes, links and navigation follow it.
    let base = assets::base_path();
    view! {
        <Meta name="description" content="诗画 shihua — 以文搜图、以图搜图" />
        <Title text="诗画 shihua" />
        <Router base=base>
            <main>
                <Routes fallback=move || view! { <p class="not-found">{move || lang.get().t().not_found}</p> }>
                    // Async: the search runs before the HTML is sent, so results are in the page
                    // itself and a shared link works without JavaScript.
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async />
                </Routes>
            </main>
        </Router>
    }
}
