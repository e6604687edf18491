//! The language switch (中文 / English). A plain link to `?lang=…` (the server remembers the
//! choice in a cookie); with the client running it switches in place and sets the cookie.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use wasm_bindgen::JsCast;

use crate::i18n::{cookie_value, use_lang};
use crate::url::{as_is, href_with};

#[component]
pub fn LangSwitch() -> impl IntoView {
    let lang = use_lang();
    let params = use_query_map();
    let navigate = use_navigate();
    let href = move || params.with(|p| href_with(p, &[("lang", Some(lang.get().other().short()))]));
    let on_click = move |ev: web_sys::MouseEvent| {
        ev.prevent_default();
        let next = lang.get_untracked().other();
        lang.set(next);
        if let Some(doc) = document().dyn_ref::<web_sys::HtmlDocument>() {
            let _ = doc.set_cookie(&cookie_value(next));
        }
        // A `lang=` in the URL would win over the cookie on reload: drop it.
        if params.with_untracked(|p| p.get("lang").is_some()) {
            let without = params.with_untracked(|p| href_with(p, &[("lang", None)]));
            navigate(
                &without,
                NavigateOptions {
                    replace: true,
                    ..as_is()
                },
            );
        }
    };
    view! {
        <a class="lang-switch" href=href on:click=on_click data-testid="lang-switch" hreflang=move || lang.get().other().short()>
            {move || lang.get().t().switch_to}
        </a>
    }
}
