//! 以诗配图: the storyboard for `/?poem=<whole poem>&alt=<line>.<n>_…` — every line beside
//! the photo chosen for it (one photo per line, no photo twice, chosen on the server), each
//! with an "another photo" link that adds one to that line's count in `alt=`, so the choice
//! is in the URL: shareable, back/forward safe, and working without JavaScript. Also the
//! whole-poem form and `/?title=…` (pick a corpus poem by its title).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{find_corpus_poems, make_storyboard};
use crate::assets::with_base;
use crate::components::states::{ErrorState, LoadingState};
use crate::i18n::use_lang;
use crate::poems::{alts_param, bump_alt, parse_alts};
use crate::search::Hit;
use crate::url::{href_with, search_href};

/// The storyboard of the page's `?poem=`, or the poems matching `?title=`; nothing otherwise.
#[component]
pub fn StoryboardSection() -> impl IntoView {
    let params = use_query_map();
    let poem = Memo::new(move |_| params.read().get("poem").unwrap_or_default());
    let alt = Memo::new(move |_| params.read().get("alt").unwrap_or_default());
    let title = Memo::new(move |_| params.read().get("title").unwrap_or_default());
    let board = Resource::new(
        move || (poem.get(), alt.get()),
        |(poem, alt)| async move {
            if poem.trim().is_empty() {
                None
            } else {
                Some(make_storyboard(poem, alt).await)
            }
        },
    );
    let titles = Resource::new(
        move || title.get(),
        |title| async move {
            if title.trim().is_empty() {
                None
            } else {
                Some(find_corpus_poems(title).await)
            }
        },
    );
    let lang = use_lang();
    view! {
        <Transition fallback=|| view! { <LoadingState /> }>
            {move || {
                board
                    .get()
                    .flatten()
                    .map(|r| match r {
                        Ok(board) => {
                            let alts = parse_alts(&alt.get_untracked());
                            let truncated = board.truncated;
                            view! {
                                <section class="storyboard" data-testid="storyboard">
                                    <h2>{move || lang.get().poem_t().storyboard_title}</h2>
                                    {truncated
                                        .then(|| {
                                            view! {
                                                <p class="note">
                                                    {move || lang.get().poem_t().truncated}
                                                </p>
                                            }
                                        })}
                                    <p class="save-card">
                                        <a
                                            href=params
                                                .with(|p| {
                                                    let mut p = p.clone();
                                                    p.remove("lang");
                                                    p.remove("title");
                                                    p.replace("tall", "1".to_string());
                                                    with_base(&crate::url::card(&p.to_query_string()))
                                                })
                                            download="shihua-storyboard.jpg"
                                            data-testid="save-card"
                                        >
                                            {move || lang.get().poem_t().save_picture}
                                        </a>
                                    </p>
                                    <ol class="story-lines">
                                        {board
                                            .lines
                                            .into_iter()
                                            .enumerate()
                                            .map(|(i, l)| {
                                                let href = params
                                                    .with(|p| {
                                                        href_with(
                                                            p,
                                                            &[("alt", Some(&alts_param(&bump_alt(&alts, i))))],
                                                        )
                                                    });
                                                view! { <StoryRow text=l.text photo=l.photo another=href /> }
                                            })
                                            .collect_view()}
                                    </ol>
                                </section>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <ErrorState error retry=None /> }.into_any(),
                    })
            }}
            {move || {
                titles
                    .get()
                    .flatten()
                    .map(|r| {
                        let t = lang.get().poem_t();
                        match r {
                            Ok(poems) if !poems.is_empty() => {
                                view! {
                                    <ul class="title-results" data-testid="title-results">
                                        {poems
                                            .into_iter()
                                            .map(|p| {
                                                let href = search_href(&[("poem", &p.text)]);
                                                view! {
                                                    <li>
                                                        <a href=href data-testid="title-result">
                                                            {format!("《{}》", p.title)}
                                                        </a>
                                                        {format!(" {} · {}", p.dynasty, p.author)}
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                            Ok(_) => view! { <p class="note">{t.no_title}</p> }.into_any(),
                            Err(error) => view! { <ErrorState error retry=None /> }.into_any(),
                        }
                    })
            }}
        </Transition>
    }
}

/// One line and its photo.
#[component]
fn StoryRow(text: String, photo: Option<Hit>, another: String) -> impl IntoView {
    let lang = use_lang();
    let search = search_href(&[("q", &text)]);
    let figure = match photo {
        Some(hit) => {
            let src = with_base(&crate::url::thumb(&hit.id, 480));
            let full = with_base(&crate::url::image(&hit.id));
            view! {
                <figure data-testid="story-photo" data-photo-id=hit.id.clone()>
                    <a href=full>
                        <img src=src alt=text.clone() loading="lazy" decoding="async" />
                    </a>
                    <figcaption class="score">{format!("{:.3}", hit.score)}</figcaption>
                </figure>
                <a class="another" href=another data-testid="another-photo">
                    {move || lang.get().poem_t().another_photo}
                </a>
            }
            .into_any()
        }
        None => view! {
            <p class="note" data-testid="story-no-photo">
                {move || lang.get().poem_t().no_photo}
            </p>
        }
        .into_any(),
    };
    view! {
        <li class="story-line" data-testid="story-line">
            <a class="story-text" href=search>
                {text.clone()}
            </a>
            {figure}
        </li>
    }
}

/// The whole-poem form (`/?poem=`) and the title form (`/?title=`): plain GET forms, so they
/// work before the client has loaded.
#[component]
pub fn WholePoemForm() -> impl IntoView {
    let lang = use_lang();
    let params = use_query_map();
    let open = move || params.with(|p| p.get("poem").is_some() || p.get("title").is_some());
    let poem = move || params.with(|p| p.get("poem").unwrap_or_default());
    view! {
        <details class="whole-poem" data-testid="whole-poem" open=open>
            <summary>{move || lang.get().poem_t().whole_poem}</summary>
            <form method="GET" action=search_href(&[])>
                <label for="whole-poem-input" class="visually-hidden">
                    {move || lang.get().poem_t().whole_poem_label}
                </label>
                <textarea
                    id="whole-poem-input"
                    name="poem"
                    rows="5"
                    maxlength="4000"
                    placeholder=move || lang.get().poem_t().whole_poem_placeholder
                    data-testid="whole-poem-input"
                    prop:value=poem
                >
                    {crate::html::escape_text(&poem())}
                </textarea>
                <button type="submit" data-testid="whole-poem-submit">
                    {move || lang.get().poem_t().make_storyboard}
                </button>
            </form>
            <form method="GET" action=search_href(&[])>
                <label for="title-input">{move || lang.get().poem_t().pick_by_title}</label>
                <input
                    id="title-input"
                    name="title"
                    placeholder=move || lang.get().poem_t().title_placeholder
                    data-testid="title-input"
                    prop:value=move || params.with(|p| p.get("title").unwrap_or_default())
                />
                <button type="submit" data-testid="title-submit">
                    {move || lang.get().poem_t().find_title}
                </button>
            </form>
        </details>
    }
}
