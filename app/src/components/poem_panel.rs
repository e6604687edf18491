//! "这张照片像哪句诗" (以图寻诗): the corpus lines closest to the picture or photo of the
//! current search (`?img=` / `?like=`), or to the photo open in the lightbox. Each line links
//! to a photo search with that line, and names its poem and poet. Rendered on the server with
//! the page, so it works without JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::find_poem_lines;
use crate::i18n::use_lang;
use crate::poems::{PoemLine, PoemQuery};
use crate::search::SearchError;
use crate::url::search_href;

/// The panel for the page's own `?img=` / `?like=`; nothing on other pages.
#[component]
pub fn PagePoemPanel() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let p = params.read();
        // A photo's lines: the picture or photo of the search, not its text.
        PoemQuery {
            q: String::new(),
            w: None,
            filters: Default::default(),
            ..PoemQuery::from_page_params(|k| p.get(k))
        }
    });
    let lines = Resource::new(
        move || query.get(),
        |q| async move {
            if q.img.is_none() && q.like.is_none() {
                None
            } else {
                Some(find_poem_lines(q, None).await)
            }
        },
    );
    view! {
        <Transition fallback=|| ()>
            {move || lines.get().flatten().map(|r| view! { <PoemLines result=r /> })}
        </Transition>
    }
}

/// The panel for one collection photo (the lightbox's), fetched when shown.
#[component]
pub fn PhotoPoemPanel(photo_id: String) -> impl IntoView {
    let q = PoemQuery {
        like: Some(photo_id),
        ..Default::default()
    };
    let lines = Resource::new(move || q.clone(), |q| find_poem_lines(q, None));
    view! {
        <Transition fallback=|| ()>
            {move || lines.get().map(|r| view! { <PoemLines result=r /> })}
        </Transition>
    }
}

/// The list itself, or why there is none.
#[component]
fn PoemLines(result: Result<Vec<PoemLine>, SearchError>) -> impl IntoView {
    let lang = use_lang();
    let body = match result {
        Ok(lines) if !lines.is_empty() => view! {
            <ol class="poem-lines">
                {lines
                    .into_iter()
                    .map(|l| {
                        let href = search_href(&[("q", &l.text)]);
                        view! {
                            <li data-testid="poem-line">
                                <a
                                    href=href
                                    class="poem-line-text"
                                    title=move || lang.get().poem_t().search_line
                                >
                                    {l.text.clone()}
                                </a>
                                <span class="poem-source" data-testid="poem-source">
                                    {format!("《{}》 {} · {}", l.title, l.dynasty, l.author)}
                                </span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
            <p class="poem-hint">{move || lang.get().poem_t().panel_hint}</p>
        }
        .into_any(),
        Ok(_) | Err(SearchError::Unavailable(_)) => view! {
            <p class="poem-hint" data-testid="poem-panel-empty">
                {move || lang.get().poem_t().panel_empty}
            </p>
        }
        .into_any(),
        Err(e) => view! { <p class="poem-hint">{e.to_string()}</p> }.into_any(),
    };
    view! {
        <aside class="poem-panel" data-testid="poem-panel">
            <h2>{move || lang.get().poem_t().panel_title}</h2>
            {body}
        </aside>
    }
}
