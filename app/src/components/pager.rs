//! Paging below the results. Without a script: plain links to the previous and the next page
//! (`?page=N`, rendered on the server). With the client: "load more" adds the next page to the
//! same grid (the `search` server function with `page`), after which reaching the bottom of
//! the grid loads the following pages by itself (infinite scroll); the address follows
//! (`page=` of the last page loaded) so a shared link or a reload keeps the page. Pages come
//! from one ranking (Milvus `offset`), up to `MAX_WINDOW` results in all.

use std::collections::HashSet;

use leptos::html;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use wasm_bindgen::{JsCast, JsValue};

use crate::api::search;
use crate::i18n::use_lang;
use crate::search::{Hit, Query, SearchError};
use crate::url::href_with;

/// How far below the window (CSS px) the pager may be for infinite scroll to load the next
/// page.
const AHEAD_PX: f64 = 600.0;

#[component]
pub fn Pager(
    /// The search whose pages these are.
    query: Query,
    /// Results per page.
    k: usize,
    /// The page the server rendered.
    page: u32,
    /// Whether the page after it has results.
    more: bool,
    /// The results shown; loaded pages are appended.
    hits: RwSignal<Vec<Hit>>,
    /// False while the cut-off hides results of this page ("show all" comes first).
    visible: Signal<bool>,
) -> impl IntoView {
    let lang = use_lang();
    let params = use_query_map();
    let query = StoredValue::new(query);
    let more = RwSignal::new(more);
    let next = RwSignal::new(page.saturating_add(1));
    let loading = RwSignal::new(false);
    let failed = RwSignal::new(None::<SearchError>);
    // The server and a page without a script get the link; the client swaps in the button.
    let scripted = RwSignal::new(false);
    Effect::new(move |_| scripted.set(true));
    // Infinite scroll starts with the first "load more": a page that was only opened never
    // grows by itself.
    let auto = RwSignal::new(false);
    let node = NodeRef::<html::Nav>::new();

    let load = move || {
        if loading.get_untracked() || !more.get_untracked() {
            return;
        }
        loading.set(true);
        failed.set(None);
        let p = next.get_untracked();
        let q = query.get_value();
        leptos::task::spawn_local(async move {
            match search(q, Some(k), Some(p)).await {
                Ok(found) => {
                    // Photos indexed meanwhile can shift the ranking: never show one twice.
                    hits.update(|h| {
                        let seen: HashSet<String> = h.iter().map(|x| x.id.clone()).collect();
                        h.extend(found.hits.into_iter().filter(|x| !seen.contains(&x.id)));
                    });
                    more.set(found.more);
                    next.set(p.saturating_add(1));
                    show_page_in_address(p);
                }
                Err(e) => failed.set(Some(e)),
            }
            loading.set(false);
        });
    };

    let scroll = window_event_listener(leptos::ev::scroll, move |_| {
        if auto.get_untracked()
            && visible.get_untracked()
            && node
                .get_untracked()
                .is_some_and(|el| near_viewport(el.as_ref()))
        {
            load();
        }
    });
    on_cleanup(move || scroll.remove());

    let prev = (page > 1).then(|| {
        let to = (page > 2).then(|| (page - 1).to_string());
        let href = params.with_untracked(|p| href_with(p, &[("page", to.as_deref())]));
        view! {
            <a class="prev-page" rel="prev" href=href data-testid="prev-page">
                {move || lang.get().t().prev_page}
            </a>
        }
    });
    let forward = move || {
        let t = lang.get().t();
        if !more.get() {
            // The end, once there was more than one page.
            return (next.get() > 2)
                .then(|| {
                    view! {
                        <p class="end" data-testid="end-of-results">
                            {t.end_of_results}
                        </p>
                    }
                })
                .into_any();
        }
        if scripted.get() {
            view! {
                <button
                    type="button"
                    class="load-more"
                    data-testid="load-more"
                    disabled=move || loading.get()
                    on:click=move |_| {
                        auto.set(true);
                        load();
                    }
                >
                    {move || {
                        let t = lang.get().t();
                        if loading.get() { t.loading_more } else { t.load_more }
                    }}
                </button>
            }
            .into_any()
        } else {
            let n = next.get().to_string();
            let href = params.with(|p| href_with(p, &[("page", Some(n.as_str()))]));
            view! {
                <a class="next-page" rel="next" href=href data-testid="next-page">
                    {t.next_page}
                </a>
            }
            .into_any()
        }
    };
    view! {
        <nav
            class="pager"
            data-testid="pager"
            node_ref=node
            hidden=move || !visible.get()
            aria-label=move || lang.get().t().pages
        >
            {prev}
            {forward}
            {move || {
                failed
                    .get()
                    .map(|e| {
                        view! {
                            <p class="error" role="alert" data-testid="load-more-error">
                                {e.to_string()}
                            </p>
                        }
                    })
            }}
        </nav>
    }
}

/// Whether `el` is on screen or less than `AHEAD_PX` below it. (`getBoundingClientRect` and
/// `history` are reached through JS: their web-sys bindings are not enabled in this crate.)
fn near_viewport(el: &JsValue) -> bool {
    let top = js_sys::Reflect::get(el, &"getBoundingClientRect".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call0(el).ok())
        .and_then(|rect| js_sys::Reflect::get(&rect, &"top".into()).ok())
        .and_then(|top| top.as_f64());
    let height = web_sys::window()
        .and_then(|w| w.inner_height().ok())
        .and_then(|h| h.as_f64());
    matches!((top, height), (Some(top), Some(height)) if top < height + AHEAD_PX)
}

/// Puts `page=<page>` in the address bar with `history.replaceState`: a reload or a shared
/// link keeps the page, and the router does not load the search anew.
fn show_page_in_address(page: u32) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let location = window.location();
    let (Ok(path), Ok(search), Ok(hash)) =
        (location.pathname(), location.search(), location.hash())
    else {
        return;
    };
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else {
        return;
    };
    params.set("page", &page.to_string());
    let url = format!("{path}?{}{hash}", String::from(params.to_string()));
    let Ok(history) = js_sys::Reflect::get(&window, &"history".into()) else {
        return;
    };
    let Some(replace) = js_sys::Reflect::get(&history, &"replaceState".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    else {
        return;
    };
    let state = js_sys::Reflect::get(&history, &"state".into()).unwrap_or(JsValue::NULL);
    let _ = replace.call3(
        &history,
        &state,
        &JsValue::from_str(""),
        &JsValue::from_str(&url),
    );
}
