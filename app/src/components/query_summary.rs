//! Above the results: what was searched — the query picture (an upload, or the photo behind
//! "more like this"), the combined terms when there are several — and the share button.

use leptos::prelude::*;

use crate::assets::with_base;
use crate::components::share::ShareButton;
use crate::i18n::use_lang;
use crate::query::describe;
use crate::search::{Query, SearchResults};

#[component]
pub fn QuerySummary(found: SearchResults, query: Query) -> impl IntoView {
    let lang = use_lang();
    let from_upload = query.img.is_some();
    let picture = found.query_image.clone().map(|src| {
        view! {
            <figure class="query-preview" data-testid="query-preview">
                <img src=with_base(&src) alt=move || lang.get().t().query_picture />
                <figcaption>
                    {move || {
                        let t = lang.get().t();
                        if from_upload { t.query_picture } else { t.like_photo }
                    }}
                </figcaption>
            </figure>
        }
    });
    let combined = (found.terms.len() > 1
        || found.terms.iter().any(|t| t.weight != 1.0)
        || (!found.terms.is_empty() && found.query_image.is_some()))
    .then(|| {
        let text = describe(&found.terms);
        view! {
            <p class="combined" data-testid="combined-query">
                {move || lang.get().t().combined}
                ": "
                <span class="terms">{text.clone()}</span>
            </p>
        }
    });
    view! {
        <div class="query-summary">
            {picture}
            <div class="query-side">
                {combined}
                <ShareButton />
            </div>
        </div>
    }
}
