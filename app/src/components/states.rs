//! The designed states of the results area: loading (a skeleton of the grid, so the layout
//! does not jump), nothing found (with example lines to try), a page past the last result or
//! past the results a search can reach (with the way back), and an error with a retry.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::poem_box::EXAMPLES;
use crate::i18n::use_lang;
use crate::search::{last_page, SearchError};
use crate::url::{href_with, search_href};

/// Placeholder cards shown while a search runs.
const SKELETON_CARDS: usize = 8;

#[component]
pub fn LoadingState() -> impl IntoView {
    let lang = use_lang();
    view! {
        <div class="loading" data-testid="loading" role="status">
            <p class="spinner">{move || lang.get().t().searching}</p>
            <ul class="gallery skeleton" aria-hidden="true">
                {(0..SKELETON_CARDS).map(|_| view! { <li class="card ghost"></li> }).collect_view()}
            </ul>
        </div>
    }
}

#[component]
pub fn EmptyState() -> impl IntoView {
    let lang = use_lang();
    view! {
        <div class="empty" data-testid="no-results">
            <p>{move || lang.get().t().no_results}</p>
            <p class="hint">
                {move || lang.get().t().no_results_hint}
                " "
                {EXAMPLES
                    .iter()
                    .map(|line| view! { <a class="chip" href=search_href(&[("q", line)])>{*line}</a> })
                    .collect_view()}
            </p>
        </div>
    }
}

/// A page after the last result (the search has fewer results than the page number says).
#[component]
pub fn PageEmptyState() -> impl IntoView {
    let lang = use_lang();
    view! {
        <div class="empty" data-testid="page-empty">
            <p>{move || lang.get().t().page_empty}</p>
            <p>
                <FirstPageLink />
            </p>
        </div>
    }
}

/// "First page": this search without its page number.
#[component]
fn FirstPageLink() -> impl IntoView {
    let lang = use_lang();
    let first = use_query_map().with_untracked(|p| href_with(p, &[("page", None)]));
    view! {
        <a href=first data-testid="first-page">
            {move || lang.get().t().first_page}
        </a>
    }
}

/// A page past the results a search can reach (`MAX_WINDOW`): what the last page is, and
/// links to it and to the first. Shown instead of searching, not as an error.
#[component]
pub fn PastEndState(k: usize, page: u32) -> impl IntoView {
    let lang = use_lang();
    let last = last_page(k);
    let to_last = use_query_map()
        .with_untracked(|p| href_with(p, &[("page", Some(last.to_string().as_str()))]));
    view! {
        <div class="empty" data-testid="past-end">
            <p>{move || lang.get().past_end_line(k, page, last)}</p>
            <p>
                <a href=to_last data-testid="last-page">
                    {move || lang.get().t().last_page}
                </a>
                " · "
                <FirstPageLink />
            </p>
        </div>
    }
}

#[component]
pub fn ErrorState(error: SearchError, retry: Option<Callback<()>>) -> impl IntoView {
    let lang = use_lang();
    let button = retry.map(|retry| {
        view! {
            <button type="button" class="retry" data-testid="retry" on:click=move |_| retry.run(())>
                {move || lang.get().t().retry}
            </button>
        }
    });
    // Too busy: a friendly word in the visitor's language, not the server's message.
    if let Some(seconds) = error.retry_after() {
        return view! {
            <div class="error-box busy" role="alert" data-testid="busy">
                <p class="error-title">{move || lang.get().t().busy_title}</p>
                <p class="error" data-testid="search-error">
                    {move || lang.get().busy_line(seconds)}
                </p>
                {button}
            </div>
        }
        .into_any();
    }
    view! {
        <div class="error-box" role="alert">
            <p class="error-title">{move || lang.get().t().error_title}</p>
            <p class="error" data-testid="search-error">
                {error.to_string()}
            </p>
            {button}
        </div>
    }
    .into_any()
}
