//! Example chips from the poem corpus: one tap searches with the line; "换一批" (a plain link,
//! `?ex=<n>`) shows another batch, so it works before the client has loaded.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::example_lines;
use crate::i18n::use_lang;
use crate::url::{href_with, search_href};

#[component]
pub fn CorpusExamples() -> impl IntoView {
    let lang = use_lang();
    let params = use_query_map();
    let page = Memo::new(move |_| {
        params
            .read()
            .get("ex")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    });
    let lines = Resource::new(move || page.get(), example_lines);
    view! {
        <nav class="examples" aria-label=move || lang.get().t().examples data-testid="examples">
            <Transition fallback=|| ()>
                {move || {
                    lines
                        .get()
                        .and_then(Result::ok)
                        .map(|lines| {
                            lines
                                .into_iter()
                                .map(|l| {
                                    view! {
                                        <a
                                            class="chip"
                                            href=search_href(&[("q", &l.text)])
                                            title=format!("《{}》 {}", l.title, l.author)
                                            data-testid="example-chip"
                                        >
                                            {l.text.clone()}
                                        </a>
                                    }
                                })
                                .collect_view()
                        })
                }}
            </Transition>
            <a
                class="more-examples"
                href=move || {
                    let next = (page.get() + 1).to_string();
                    params.with(|p| href_with(p, &[("ex", Some(&next))]))
                }
                data-testid="more-examples"
            >
                {move || lang.get().poem_t().more_examples}
            </a>
        </nav>
    }
}
