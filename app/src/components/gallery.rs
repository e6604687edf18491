//! The results: what was searched (`QuerySummary`), a responsive grid of photo cards served by
//! id (`/thumb/{id}`, never a client-supplied path), the relative cut-off with its "show all"
//! link, paging (`pager`: "load more" into the same grid with a script, a plain "next page"
//! link without), and the lightbox a card opens. A result's other copies show as "also in …";
//! near-identical photos folded under it as a "+N" badge that shows them inline after it (with
//! a script) or opens the search unfolded (`all=1`, without).

use std::collections::HashSet;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::assets::with_base;
use crate::components::lightbox::Lightbox;
use crate::components::pager::Pager;
use crate::components::query_summary::QuerySummary;
use crate::components::states::{EmptyState, PageEmptyState};
use crate::i18n::use_lang;
use crate::search::{Hit, Query, SearchResults};
use crate::url::{self, href_with};

/// Thumbnail widths offered to the browser through a card's `srcset`. A card is at most
/// 240 CSS px wide (half the screen on a phone), so 480 px covers a 2× screen; a phone at
/// 2.6× would otherwise pick 960 px files (~65 kB each instead of ~25 kB) that share the
/// first visit's bandwidth with the client and delay hydration (docs/site.md). The lightbox
/// shows the full photo.
const THUMB_WIDTHS: [u32; 2] = [240, 480];
/// Cards whose thumbnails load at once: the first screen of a phone (two columns, two to
/// three rows). The rest load as they near the viewport.
const EAGER_CARDS: usize = 6;
/// How wide a card is drawn: half the screen on a phone, 240 CSS px on wider screens.
const CARD_SIZES: &str = "(max-width: 600px) 50vw, 240px";
/// What the server-rendered page declares until the client is live: small enough that even a
/// 2.6× phone screen starts with the 240 px files (~9 kB instead of ~25 kB each). On a phone
/// link the thumbnails share the bandwidth with the client; these keep the first visit
/// interactive sooner (docs/site.md: hydrated ≤ 3 s at 1.6 Mbps). Once hydrated, each card
/// declares `CARD_SIZES` and the browser fetches the sharp file. Without JavaScript the
/// small files stay (a thumbnail grid; the photo link opens the full picture).
const FIRST_VISIT_SIZES: &str = "(max-width: 600px) 20vw, 120px";

/// Results scoring below this fraction of the best score are hidden until "show all".
/// Scores are cosines whose range depends on the query (text→photo cosines sit around 0.2–0.4,
/// photo→photo ones near 0.8–1), so the cut-off is relative to the best result, not fixed.
pub const RELATIVE_CUTOFF: f32 = 0.8;
/// The cut-off never leaves fewer results than this (one row on a wide screen).
pub const MIN_SHOWN: usize = 6;

/// How many of `hits` (sorted best first) pass the relative cut-off, at least `MIN_SHOWN`.
pub fn visible_count(hits: &[Hit]) -> usize {
    let Some(best) = hits.first().map(|h| h.score) else {
        return 0;
    };
    if best <= 0.0 {
        return hits.len();
    }
    let floor = best * RELATIVE_CUTOFF;
    hits.iter()
        .take_while(|h| h.score >= floor)
        .count()
        .max(MIN_SHOWN)
        .min(hits.len())
}

/// The cards the grid shows: the first `n` results, each followed by the photos folded under
/// it when it is in `expanded`; with whether each is such a folded photo.
pub fn cards(hits: &[Hit], n: usize, expanded: &HashSet<String>) -> Vec<(Hit, bool)> {
    let mut out = Vec::new();
    for hit in hits.iter().take(n) {
        out.push((hit.clone(), false));
        if expanded.contains(&hit.id) {
            out.extend(hit.similar.iter().map(|s| (s.clone(), true)));
        }
    }
    out
}

/// A search's results (one page of `k`, and the pages "load more" adds), or why there are
/// none.
#[component]
pub fn ResultsView(found: SearchResults, query: Query, k: usize) -> impl IntoView {
    let lang = use_lang();
    let params = use_query_map();
    let show_all = Memo::new(move |_| url::all_flag(params.read().get("all").as_deref()));
    let summary = view! { <QuerySummary found=found.clone() query=query.clone() /> };
    let page = found.page.max(1);
    if found.hits.is_empty() {
        // Past the last result (a page number typed or kept from a bigger collection).
        if page > 1 {
            return view! { {summary} <PageEmptyState /> }.into_any();
        }
        return view! { {summary} <EmptyState /> }.into_any();
    }
    // The cut-off is the first page's; later pages show all their results.
    let first_total = found.hits.len();
    let passing = if page == 1 {
        visible_count(&found.hits)
    } else {
        first_total
    };
    let took_ms = found.took_ms;
    let more = found.more;
    let hits = RwSignal::new(found.hits);
    let total = move || hits.with(Vec::len);
    let shown = move || {
        if show_all.get() || passing == first_total {
            total()
        } else {
            passing
        }
    };
    // Results whose near-identical photos are shown (with a script).
    let expanded = RwSignal::new(HashSet::<String>::new());
    let toggle_folded = Callback::new(move |id: String| {
        expanded.update(|e| {
            if !e.remove(&id) {
                e.insert(id);
            }
        })
    });
    let shown_cards = Memo::new(move |_| hits.with(|h| expanded.with(|e| cards(h, shown(), e))));
    let selected = RwSignal::new(None::<usize>);
    let open = Callback::new(move |i: usize| selected.set(Some(i)));
    let unfolded_href = params.with_untracked(|p| href_with(p, &[("all", Some("1"))]));

    let toggle = move || {
        let t = lang.get().t();
        if passing == first_total {
            return ().into_any();
        }
        if show_all.get() {
            let href = params.with(|p| href_with(p, &[("all", None)]));
            view! {
                <p class="cutoff">
                    <a href=href data-testid="show-best">
                        {t.show_best}
                    </a>
                </p>
            }
            .into_any()
        } else {
            let href = params.with(|p| href_with(p, &[("all", Some("1"))]));
            view! {
                <p class="cutoff" data-testid="cutoff-note">
                    {lang.get().hidden_line(first_total - passing)}
                    " "
                    <a href=href data-testid="show-all">
                        {t.show_all}
                    </a>
                </p>
            }
            .into_any()
        }
    };

    view! {
        {summary}
        {found
            .truncated
            .then(|| view! { <p class="note">{move || lang.get().t().truncated}</p> })}
        <p class="took" data-testid="results-line">
            {move || lang.get().results_line(shown(), took_ms)}
            {move || (page > 1).then(|| format!(" · {}", lang.get().page_line(page)))}
        </p>
        <ul class="gallery" data-testid="gallery">
            <For
                each=move || shown_cards.get().into_iter().enumerate()
                key=|(index, (hit, _))| (*index, hit.id.clone())
                children=move |(index, (hit, folded))| {
                    let is_open = Signal::derive({
                        let id = hit.id.clone();
                        move || expanded.with(|e| e.contains(&id))
                    });
                    view! {
                        <Card
                            hit
                            index
                            open
                            folded
                            is_open
                            toggle=toggle_folded
                            unfolded_href=unfolded_href.clone()
                        />
                    }
                }
            />
        </ul>
        {toggle}
        // Hidden results come first ("show all"), then the next pages.
        <Pager query k page more hits visible=Signal::derive(move || shown() == total()) />
        <Lightbox
            hits=Signal::derive(move || {
                shown_cards.with(|c| c.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>())
            })
            shown=Signal::derive(move || shown_cards.with(Vec::len))
            selected
        />
    }
    .into_any()
}

#[component]
fn Card(
    hit: Hit,
    /// Its place among the cards shown (the lightbox's index).
    index: usize,
    open: Callback<usize>,
    /// Shown because the result it is folded under was expanded.
    folded: bool,
    /// Whether the photos folded under it are shown.
    is_open: Signal<bool>,
    /// Shows or hides the photos folded under a result (by its id).
    toggle: Callback<String>,
    /// The search unfolded (`all=1`): where the badge leads without a script.
    unfolded_href: String,
) -> impl IntoView {
    let lang = use_lang();
    let also_in = (!hit.duplicates.is_empty()).then(|| {
        let labels = hit
            .duplicates
            .iter()
            .map(|d| d.label(&hit.name))
            .collect::<Vec<_>>()
            .join(", ");
        let paths = hit.copy_paths("\n");
        view! {
            <p class="also-in" data-testid="also-in" title=paths>
                {move || lang.get().also_in()}
                {labels}
            </p>
        }
    });
    let n = hit.folded();
    let badge = (n > 0).then(|| {
        let id = hit.id.clone();
        // A plain click shows the folded photos inline; without a script (or a modified
        // click) the link opens the search unfolded.
        let on_badge = move |ev: web_sys::MouseEvent| {
            if ev.button() == 0
                && !(ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key())
            {
                ev.prevent_default();
                toggle.run(id.clone());
            }
        };
        view! {
            <a
                class="similar-badge"
                class:open=move || is_open.get()
                href=unfolded_href
                data-testid="similar-badge"
                aria-expanded=move || if is_open.get() { "true" } else { "false" }
                title=move || {
                    if is_open.get() {
                        lang.get().fold_again().to_owned()
                    } else {
                        lang.get().folded_line(n)
                    }
                }
                on:click=on_badge
            >
                {move || if is_open.get() { "−".to_owned() } else { format!("+{n}") }}
            </a>
        }
    });
    let card_testid = if folded { "folded-card" } else { "result-card" };
    let folded_mark = folded.then(|| {
        view! { <span class="folded-mark">{move || lang.get().folded_under()}</span> }
    });
    let srcset = THUMB_WIDTHS
        .iter()
        .map(|&w| format!("{} {w}w", with_base(&url::thumb(&hit.id, w))))
        .collect::<Vec<_>>()
        .join(", ");
    let src = with_base(&url::thumb(&hit.id, THUMB_WIDTHS[1]));
    let full = with_base(&url::image(&hit.id));
    let filters =
        use_query_map().with_untracked(|p| crate::filters::Filters::from_params(|k| p.get(k)));
    let like = with_base(&url::like_in(&hit.id, &filters));
    // Plain clicks open the lightbox; modified clicks (new tab...) and no-script visitors
    // follow the link to the full image.
    // Effects run only in the browser, after hydration: then the card asks for sharp files.
    let live = RwSignal::new(false);
    Effect::new(move |_| live.set(true));
    let sizes = move || {
        if live.get() {
            CARD_SIZES
        } else {
            FIRST_VISIT_SIZES
        }
    };
    let on_click = move |ev: web_sys::MouseEvent| {
        if ev.button() == 0 && !(ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key()) {
            ev.prevent_default();
            open.run(index);
        }
    };
    view! {
        <li
            class="card"
            class:folded=folded
            data-testid=card_testid
        >
            {badge}
            <a class="photo" href=full on:click=on_click data-testid="card-open">
                <img
                    src=src
                    srcset=srcset
                    sizes=sizes
                    loading=if index < EAGER_CARDS { "eager" } else { "lazy" }
                    decoding="async"
                    alt=hit.name.clone()
                />
            </a>
            <div class="meta">
                <span class="name" title=hit.filepath>
                    {hit.name}
                </span>
                <span class="score" data-testid="score" title=move || lang.get().t().similarity>
                    {format!("{:.3}", hit.score)}
                </span>
            </div>
            {also_in}
            {folded_mark}
            <a class="like" href=like data-testid="more-like-this">
                {move || lang.get().t().more_like_this}
            </a>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(scores: &[f32]) -> Vec<Hit> {
        scores
            .iter()
            .enumerate()
            .map(|(i, &score)| {
                Hit::new(i.to_string(), format!("{i}.jpg"), format!("{i}.jpg"), score)
            })
            .collect()
    }

    #[test]
    fn expanded_results_show_their_folded_photos_after_them() {
        let mut all = hits(&[0.9, 0.8, 0.7]);
        all[0].similar = hits(&[0.85, 0.84]);
        all[0].similar[0].id = "a".into();
        all[0].similar[1].id = "b".into();
        let ids = |c: Vec<(Hit, bool)>| {
            c.into_iter()
                .map(|(h, f)| format!("{}{}", h.id, if f { "*" } else { "" }))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(cards(&all, 3, &HashSet::new())), ["0", "1", "2"]);
        let open = HashSet::from(["0".to_owned()]);
        assert_eq!(ids(cards(&all, 3, &open)), ["0", "a*", "b*", "1", "2"]);
        assert_eq!(ids(cards(&all, 1, &open)), ["0", "a*", "b*"]);
    }

    #[test]
    fn cutoff_is_relative_to_the_best() {
        let text = [
            0.33, 0.31, 0.30, 0.29, 0.28, 0.27, 0.27, 0.26, 0.25, 0.20, 0.18,
        ];
        assert_eq!(visible_count(&hits(&text)), 7);
        let photo = [1.0, 0.95, 0.9, 0.85, 0.82, 0.81, 0.80, 0.79, 0.6];
        assert_eq!(visible_count(&hits(&photo)), 7);
        // Never fewer than MIN_SHOWN, never more than there are.
        assert_eq!(
            visible_count(&hits(&[0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])),
            MIN_SHOWN
        );
        assert_eq!(visible_count(&hits(&[0.5, 0.1])), 2);
        assert_eq!(visible_count(&hits(&[])), 0);
        // Negative bests (a "minus" query) hide nothing.
        assert_eq!(visible_count(&hits(&[-0.1, -0.2])), 2);
    }
}
