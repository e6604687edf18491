//! The poem box: a GET form on `/` (so it works before hydration and gives a shareable URL),
//! with the filter row (`filter_row`), submitted through the router once the client runs
//! (empty filter fields left out of the URL); Enter submits and Shift+Enter adds a
//! line, suggestions from the poem corpus while typing (`suggest`), and example chips from the
//! corpus (`examples`).

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::assets::with_base;
use crate::components::examples::CorpusExamples;
use crate::components::filter_row::FilterRow;
use crate::components::suggest::{Suggest, SuggestList};
use crate::i18n::use_lang;
use crate::search::{Query, DEFAULT_K};
use crate::url::{as_is, search_href};

/// Lines of 马致远《天净沙·秋思》, the reference article's examples.
pub const EXAMPLES: [&str; 5] = [
    "枯藤老树昏鸦",
    "小桥流水人家",
    "古道西风瘦马",
    "夕阳西下",
    "断肠人在天涯",
];

#[component]
pub fn PoemBox(
    /// The search currently in the URL.
    query: Memo<Query>,
    /// Results per page in the URL.
    k: Memo<usize>,
) -> impl IntoView {
    let lang = use_lang();
    let suggest = Suggest::new();
    let navigate = use_navigate();
    let on_keydown = move |ev: web_sys::KeyboardEvent| {
        match suggest.on_key(&ev) {
            Some(Some(href)) => return navigate(&href, Default::default()),
            Some(None) => return,
            None => {}
        }
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            let textarea: web_sys::HtmlTextAreaElement = event_target(&ev);
            if let Some(form) = textarea.form() {
                let _ = form.request_submit();
            }
        }
    };
    // A plain GET form (the site's base path in its action, for visitors without the client);
    // with the client, the router navigates to the same URL.
    let navigate = use_navigate();
    let on_submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let form: web_sys::HtmlFormElement = event_target(&ev);
        let Ok(data) = web_sys::FormData::new_with_form(&form) else {
            return;
        };
        let Ok(params) = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data.into())
        else {
            return;
        };
        for key in crate::filters::FILTER_KEYS {
            if params.get(key).is_some_and(|v| v.trim().is_empty()) {
                params.delete(key);
            }
        }
        let params = String::from(params.to_string());
        navigate(&with_base(&format!("/?{params}")), as_is());
    };
    let text = Memo::new(move |_| query.read().q.clone());
    // A new search closes the suggestions.
    Effect::new(move |_| {
        text.track();
        suggest.close();
    });
    // With a picture or photo on screen, the text can be combined with it.
    let combine = move || {
        let q = query.get();
        let t = lang.get().t();
        let (name, value, label) = match (q.img, q.like) {
            (Some(img), _) => ("img", img, t.combine_picture),
            (None, Some(like)) => ("like", like, t.combine_photo),
            (None, None) => return None,
        };
        Some(view! {
            <label class="combine">
                <input
                    type="checkbox"
                    name=name
                    value=value
                    checked=!q.q.trim().is_empty()
                    data-testid="combine"
                />
                {label}
            </label>
        })
    };
    let k_field = move || {
        let k = k.get();
        (k != DEFAULT_K).then(|| view! { <input type="hidden" name="k" value=k.to_string() /> })
    };

    view! {
        <div class="poem-form" data-testid="poem-form">
            <form method="GET" action=search_href(&[]) on:submit=on_submit>
                <label class="visually-hidden" for="poem-input">
                    {move || lang.get().t().poem_label}
                </label>
                <div class="poem-row">
                    <textarea
                        id="poem-input"
                        name="q"
                        rows="2"
                        maxlength="2000"
                        placeholder=move || lang.get().t().poem_placeholder
                        data-testid="poem-input"
                        prop:value=move || text.get()
                        on:keydown=on_keydown
                        on:input=move |ev| suggest.on_input(event_target_value(&ev))
                        on:compositionstart=move |_| suggest.composing.set(true)
                        on:compositionend=move |ev| {
                            suggest.composing.set(false);
                            let el: web_sys::HtmlTextAreaElement = event_target(&ev);
                            suggest.on_input(el.value());
                        }
                        aria-autocomplete="list"
                        aria-controls="poem-suggestions"
                        autocomplete="off"
                    >
                        // Rendered verbatim inside <textarea> (raw text): escape it here, or a
                        // query containing "</textarea>" would break out of the element.
                        {crate::html::escape_text(&text.get_untracked())}
                    </textarea>
                    <button type="submit" data-testid="poem-submit">
                        {move || lang.get().t().search}
                    </button>
                </div>
                <SuggestList state=suggest />
                {combine}
                {k_field}
                <FilterRow query />
                <p class="syntax-hint">{move || lang.get().t().syntax_hint}</p>
            </form>
            <CorpusExamples />
        </div>
    }
}
