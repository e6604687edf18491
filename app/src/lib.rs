//! The shihua web app: the HTML shell, the router and the root component. Pages and
//! components live in their own modules; the search types and server functions in `search`.

pub mod components;
pub mod downscale;
pub mod i18n;
pub mod pages;
pub mod poems;
pub mod query;
pub mod search;
pub mod url;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    SsrMode, StaticSegment,
};

use crate::i18n::{use_lang, Lang};
use crate::pages::home::HomePage;

/// The HTML document the server renders around the app, in the visitor's language.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let lang = i18n::request_lang();
    #[cfg(not(feature = "ssr"))]
    let lang = Lang::default();
    provide_context(RwSignal::new(lang));
    view! {
        <!DOCTYPE html>
        <html lang=lang.code()>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
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

    view! {
        <Stylesheet id="leptos" href="/pkg/shihua.css" />
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml" />
        <Meta name="description" content="诗画 shihua — 以文搜图、以图搜图" />
        <Title text="诗画 shihua" />
        <Router>
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
