//! The search page. Its state is the URL (`/?q=…&img=…&like=…&w=…&k=…&page=…&all=1`): a
//! search is rendered on the server, so a shared link shows results before any script runs,
//! and back/forward move between searches. A page past the results a search can reach shows
//! `PastEndState` instead of searching. An upload first stores the picture (`upload_query`),
//! then navigates to `/?img=<id>` like any other search.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{get_status, search, upload_query};
use crate::components::gallery::ResultsView;
use crate::components::index_progress::IndexProgressBar;
use crate::components::lang_switch::LangSwitch;
use crate::components::model_banner::ModelBanner;
use crate::components::poem_box::PoemBox;
use crate::components::poem_panel::PagePoemPanel;
use crate::components::share_meta::ShareMeta;
use crate::components::states::{ErrorState, LoadingState, PastEndState};
use crate::components::upload::Upload;
use crate::i18n::use_lang;
use crate::pages::storyboard::{StoryboardSection, WholePoemForm};
use crate::search::{clamp_k, last_page, Query, SearchError};
use crate::url::{as_is, page_from_url, search_href};

#[component]
pub fn HomePage() -> impl IntoView {
    let lang = use_lang();
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let p = params.read();
        Query::from_page_params(|k| p.get(k))
    });
    let k = Memo::new(move |_| clamp_k(params.read().get("k").and_then(|v| v.parse().ok())));
    let page = Memo::new(move |_| page_from_url(params.read().get("page").as_deref()));
    let past_end = move || page.get_untracked() > last_page(k.get_untracked());

    let status = Resource::new(|| (), |_| get_status());
    let results = Resource::new(
        move || (query.get(), k.get(), page.get()),
        |(query, k, page)| async move {
            if query.is_empty() || page > last_page(k) {
                None
            } else {
                Some(search(query, Some(k), Some(page)).await)
            }
        },
    );
    // "Searching…" while a new search loads over the old results (browser only; the server
    // renders finished results).
    let searching = RwSignal::new(false);
    Effect::new(move |prev: Option<()>| {
        query.track();
        k.track();
        page.track();
        if prev.is_some() {
            searching.set(true);
        }
    });
    Effect::new(move |_| {
        results.track();
        searching.set(false);
    });

    // Upload: show the picture at once, store it on the server, then go to its URL.
    let preview = RwSignal::new(None::<String>);
    let upload_error = RwSignal::new(None::<SearchError>);
    let upload = Action::new_local(|form: &web_sys::FormData| upload_query(form.clone().into()));
    let navigate = use_navigate();
    Effect::new(move |_| match upload.value().get() {
        Some(Ok(id)) => {
            upload.value().set(None);
            // A new picture search keeps the filters on screen.
            let filters = query.read_untracked().filters.clone();
            let mut pairs = vec![("img", id.as_str())];
            pairs.extend(filters.pairs());
            navigate(&search_href(&pairs), as_is());
        }
        Some(Err(e)) => {
            upload.value().set(None);
            upload_error.set(Some(e));
        }
        None => {}
    });
    // A new search (typed, a chip, back/forward) ends the upload view.
    Effect::new(move |_| {
        query.track();
        upload_error.set(None);
        if let Some(old) = preview.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&old);
            preview.set(None);
        }
    });
    let on_upload = Callback::new(move |(blob, name): (web_sys::Blob, String)| {
        let Ok(form) = web_sys::FormData::new() else {
            return;
        };
        if form
            .append_with_blob_and_filename(crate::search::IMAGE_FIELD, &blob, &name)
            .is_err()
        {
            return;
        }
        if let Some(old) = preview.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&old);
        }
        preview.set(web_sys::Url::create_object_url_with_blob(&blob).ok());
        upload_error.set(None);
        upload.dispatch_local(form);
    });
    let uploading = upload.pending();
    let showing_upload = move || uploading.get() || upload_error.with(Option::is_some);

    let upload_view = move || {
        let t = lang.get().t();
        view! {
            <figure class="query-preview" data-testid="query-preview">
                <img src=move || preview.get().unwrap_or_default() alt=t.query_picture />
                <figcaption>
                    {move || if uploading.get() { t.uploading } else { t.query_picture }}
                </figcaption>
            </figure>
            {move || match upload_error.get() {
                Some(e) => view! { <ErrorState error=e retry=None /> }.into_any(),
                None => view! { <LoadingState /> }.into_any(),
            }}
        }
    };

    let results_view = move || {
        view! {
            <Transition fallback=|| view! { <LoadingState /> }>
                {move || {
                    results
                        .get()
                        .map(|r| match r {
                            None if past_end() && !query.read_untracked().is_empty() => {
                                view! {
                                    <PastEndState k=k.get_untracked() page=page.get_untracked() />
                                }
                                    .into_any()
                            }
                            None => ().into_any(),
                            Some(Ok(found)) => {
                                view! {
                                    <ResultsView
                                        found
                                        query=query.get_untracked()
                                        k=k.get_untracked()
                                    />
                                }
                                    .into_any()
                            }
                            Some(Err(error)) => {
                                let retry = Callback::new(move |_| results.refetch());
                                view! { <ErrorState error retry=Some(retry) /> }.into_any()
                            }
                        })
                }}
            </Transition>
        }
    };

    // Once there is a search, phones get a compact header and a poem box that stays at the
    // top (style/main.css), so the first results are on the first screen.
    let has_query = move || !query.read().is_empty() || showing_upload();
    view! {
        <ShareMeta />
        <header class="hero" class:has-query=has_query>
            <LangSwitch />
            <h1>"诗画"</h1>
            <p class="tagline">{move || lang.get().t().tagline}</p>
        </header>
        <Transition fallback=|| ()>
            {move || {
                status
                    .get()
                    .map(|s| {
                        let indexing = s.as_ref().ok().and_then(|s| s.indexing.clone());
                        view! {
                            <ModelBanner status=s />
                            <IndexProgressBar initial=indexing />
                        }
                    })
            }}
        </Transition>
        <section class="search" class:has-query=has_query>
            <PoemBox query k />
            <WholePoemForm />
            <Upload on_upload />
        </section>
        <section
            class="results"
            class:stale=move || searching.get()
            aria-live="polite"
            aria-busy=move || (searching.get() || uploading.get()).to_string()
        >
            {move || if showing_upload() { upload_view().into_any() } else { results_view().into_any() }}
            <PagePoemPanel />
            <StoryboardSection />
        </section>
    }
}
