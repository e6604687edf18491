//! The banner above the search: which model is answering, how many photos are indexed,
//! and a loud warning when the random-weight fixture model stands in for Chinese-CLIP.

use leptos::prelude::*;

use crate::i18n::use_lang;
use crate::search::{SearchError, ServerStatus};

#[component]
pub fn ModelBanner(status: Result<ServerStatus, SearchError>) -> impl IntoView {
    let lang = use_lang();
    match status {
        Ok(s) => {
            let fixture = s.fixture.then(|| {
                view! {
                    <p class="banner warn" data-testid="fixture-banner" role="status">
                        {move || lang.get().t().fixture_warning}
                    </p>
                }
            });
            let empty = (s.rows == 0).then(|| {
                view! {
                    <p class="banner" data-testid="empty-banner">
                        {move || lang.get().t().empty_collection}
                    </p>
                }
            });
            view! {
                {fixture}
                {empty}
                <p class="model-line" data-testid="model-line">
                    {move || lang.get().model_line(&s.model_id, s.rows)}
                </p>
            }
            .into_any()
        }
        Err(e) => view! {
            <p class="banner error" data-testid="status-error" role="alert">
                {e.to_string()}
            </p>
        }
        .into_any(),
    }
}
