//! The search page. The URL is the state of a text search (`/?q=…&k=…`): it is rendered on
//! the server, so a shared link shows results before any script runs, and back/forward move
//! between searches. A picture upload shows its own results below the query picture.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::gallery::ResultsView;
use crate::components::model_banner::ModelBanner;
use crate::components::poem_box::PoemBox;
use crate::components::upload::Upload;
use crate::search::{clamp_k, get_status, search_image, search_text};

/// Which search the results area is showing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Showing {
    Text,
    Picture,
}

#[component]
pub fn HomePage() -> impl IntoView {
    let query = use_query_map();
    let q = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let k = Memo::new(move |_| clamp_k(query.read().get("k").and_then(|v| v.parse().ok())));

    let status = Resource::new(|| (), |_| get_status());
    let text_results = Resource::new(
        move || (q.get(), k.get()),
        |(q, k)| async move {
            if q.trim().is_empty() {
                None
            } else {
                Some(search_text(q, Some(k)).await)
            }
        },
    );

    let showing = RwSignal::new(Showing::Text);
    let preview = RwSignal::new(None::<String>);
    let picture_search =
        Action::new_local(|form: &web_sys::FormData| search_image(form.clone().into()));

    // A new text query (typed, a chip, back/forward) takes over the results area.
    Effect::new(move |_| {
        q.track();
        showing.set(Showing::Text);
    });

    let on_file = Callback::new(move |file: web_sys::File| {
        let Ok(form) = web_sys::FormData::new() else {
            return;
        };
        if form
            .append_with_blob_and_filename(crate::search::IMAGE_FIELD, &file, &file.name())
            .is_err()
        {
            return;
        }
        if let Some(old) = preview.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&old);
        }
        preview.set(web_sys::Url::create_object_url_with_blob(&file).ok());
        showing.set(Showing::Picture);
        picture_search.dispatch_local(form);
    });

    let text_view = move || {
        view! {
            <Transition fallback=|| view! { <p class="loading">"正在寻找…"</p> }>
                {move || {
                    text_results
                        .get()
                        .map(|r| match r {
                            None => ().into_any(),
                            Some(result) => view! { <ResultsView result /> }.into_any(),
                        })
                }}
            </Transition>
        }
    };

    let picture_view = move || {
        let pending = picture_search.pending();
        view! {
            <figure class="query-preview" data-testid="query-preview">
                <img src=move || preview.get().unwrap_or_default() alt="查询图片 · query picture" />
                <figcaption>"以此图搜索 · searching with this picture"</figcaption>
            </figure>
            {move || {
                if pending.get() {
                    view! { <p class="loading">"正在寻找…"</p> }.into_any()
                } else {
                    match picture_search.value().get() {
                        Some(result) => view! { <ResultsView result /> }.into_any(),
                        None => ().into_any(),
                    }
                }
            }}
        }
    };

    view! {
        <header class="hero">
            <h1>"诗画"</h1>
            <p class="tagline">"以诗搜图 · search your photos with a line of poetry"</p>
        </header>
        <Transition fallback=|| ()>
            {move || status.get().map(|s| view! { <ModelBanner status=s /> })}
        </Transition>
        <section class="search">
            <PoemBox value=q />
            <Upload on_file />
        </section>
        <section class="results" aria-live="polite">
            {move || match showing.get() {
                Showing::Text => text_view().into_any(),
                Showing::Picture => picture_view().into_any(),
            }}
        </section>
    }
}
