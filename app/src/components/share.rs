//! The share button: the Web Share API where the browser has it (phones), otherwise the
//! page's URL is copied to the clipboard. The URL is the search, so it is all there is to share.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use crate::i18n::use_lang;

#[component]
pub fn ShareButton() -> impl IntoView {
    let lang = use_lang();
    let copied = RwSignal::new(false);
    let on_click = move |_| {
        let Some(window) = web_sys::window() else {
            return;
        };
        let Some(url) = share_url(&window) else {
            return;
        };
        let navigator = window.navigator();
        if web_share(&navigator, &url) {
            return;
        }
        let _ = navigator.clipboard().write_text(&url);
        copied.set(true);
        set_timeout(move || copied.set(false), std::time::Duration::from_secs(3));
    };
    view! {
        <button type="button" class="share" data-testid="share" on:click=on_click>
            {move || lang.get().t().share}
        </button>
        <span class="share-status" role="status" data-testid="share-status">
            {move || copied.get().then(|| lang.get().t().copied)}
        </span>
    }
}

/// The page's address to share: under `--public-url` when the server has one (the address
/// the browser shows may be an internal one), else the browser's.
fn share_url(window: &web_sys::Window) -> Option<String> {
    let location = window.location();
    let href = location.href().ok()?;
    if crate::assets::public_url().is_some() {
        let path = location.pathname().ok()?;
        let base = crate::assets::base_path();
        let rest = path.strip_prefix(base.as_str()).unwrap_or(&path);
        let search = location.search().unwrap_or_default();
        return Some(format!("{}{rest}{search}", crate::url::site_address()));
    }
    Some(href)
}

/// Calls `navigator.share({url})` when the browser has it; false when it does not.
fn web_share(navigator: &web_sys::Navigator, url: &str) -> bool {
    let nav: &JsValue = navigator.as_ref();
    let Ok(share) = js_sys::Reflect::get(nav, &JsValue::from_str("share")) else {
        return false;
    };
    let Some(share) = share.dyn_ref::<js_sys::Function>() else {
        return false;
    };
    let data = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&data, &"url".into(), &url.into());
    let _ = js_sys::Reflect::set(&data, &"title".into(), &"诗画 shihua".into());
    // A cancelled share rejects the promise: nothing to do then.
    share.call1(nav, &data).is_ok()
}
