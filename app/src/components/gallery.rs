//! The results gallery: a responsive grid of photo cards served by id (`/thumb/{id}`),
//! never by a client-supplied path, plus the wrapper that shows errors and empty results.

use leptos::prelude::*;

use crate::search::{Hit, SearchError, SearchResults};

/// Thumbnail widths offered to the browser through `srcset`.
const THUMB_WIDTHS: [u32; 3] = [240, 480, 960];

/// Results, or why there are none.
#[component]
pub fn ResultsView(result: Result<SearchResults, SearchError>) -> impl IntoView {
    match result {
        Ok(r) if r.hits.is_empty() => view! {
            <p class="empty" data-testid="no-results">
                "没有找到照片 · no photos found"
            </p>
        }
        .into_any(),
        Ok(r) => {
            let note = r.truncated.then(|| {
                view! {
                    <p class="note">"诗句过长，只用了前 52 个字词 · the text was cut to the model's 52 tokens"</p>
                }
            });
            view! {
                {note}
                <p class="took">{format!("{} 张 · {} ms", r.hits.len(), r.took_ms)}</p>
                <Gallery hits=r.hits />
            }
            .into_any()
        }
        Err(e) => view! {
            <p class="error" data-testid="search-error" role="alert">
                {e.to_string()}
            </p>
        }
        .into_any(),
    }
}

#[component]
pub fn Gallery(hits: Vec<Hit>) -> impl IntoView {
    view! {
        <ul class="gallery" data-testid="gallery">
            {hits.into_iter().map(|hit| view! { <Card hit /> }).collect_view()}
        </ul>
    }
}

#[component]
fn Card(hit: Hit) -> impl IntoView {
    let srcset = THUMB_WIDTHS
        .iter()
        .map(|w| format!("/thumb/{}?w={w} {w}w", hit.id))
        .collect::<Vec<_>>()
        .join(", ");
    let src = format!("/thumb/{}?w={}", hit.id, THUMB_WIDTHS[1]);
    let full = format!("/image/{}", hit.id);
    view! {
        <li class="card" data-testid="result-card">
            <a href=full target="_blank" rel="noopener">
                <img
                    src=src
                    srcset=srcset
                    sizes="(max-width: 600px) 50vw, 240px"
                    loading="lazy"
                    decoding="async"
                    alt=hit.name.clone()
                />
            </a>
            <div class="meta">
                <span class="name" title=hit.filepath>
                    {hit.name}
                </span>
                <span class="score" data-testid="score">
                    {format!("{:.3}", hit.score)}
                </span>
            </div>
        </li>
    }
}
