//! The lightbox a result card opens: the full photo with its name, score, pixel size and file
//! size, the folders its other copies are in ("also in …"), "more like this", and navigation
//! by keyboard (←/→, Esc closes), swipe and buttons.

use leptos::ev;
use leptos::html;
use leptos::prelude::*;

use crate::assets::with_base;
use crate::components::poem_panel::PhotoPoemPanel;
use crate::i18n::use_lang;
use crate::search::Hit;

/// Horizontal travel (CSS px) that counts as a swipe.
const SWIPE_PX: i32 = 50;

#[component]
pub fn Lightbox(
    /// The results, pages added by "load more" included.
    hits: Signal<Vec<Hit>>,
    /// How many of `hits` the gallery shows (navigation stays within them).
    shown: Signal<usize>,
    selected: RwSignal<Option<usize>>,
) -> impl IntoView {
    let lang = use_lang();
    let params = leptos_router::hooks::use_query_map();
    let dims = RwSignal::new(None::<(u32, u32)>);
    let dialog = NodeRef::<html::Div>::new();
    let touch_x = StoredValue::new(None::<i32>);

    let close = move || selected.set(None);
    let step = move |delta: isize| {
        let n = shown.get_untracked() as isize;
        if n == 0 {
            return;
        }
        selected.update(|s| {
            if let Some(i) = s {
                *i = (*i as isize + delta).rem_euclid(n) as usize;
            }
        });
    };

    // Keys work while the lightbox is open.
    let keys = window_event_listener(ev::keydown, move |e| {
        if selected.get_untracked().is_none() {
            return;
        }
        match e.key().as_str() {
            "Escape" => close(),
            "ArrowLeft" => step(-1),
            "ArrowRight" => step(1),
            _ => return,
        }
        e.prevent_default();
    });
    on_cleanup(move || keys.remove());

    // New photo: forget the old size; opened: take the focus so screen readers follow, and
    // keep the page behind from scrolling.
    Effect::new(move |_| {
        let open = selected.get().is_some();
        if open {
            dims.set(None);
            if let Some(el) = dialog.get() {
                let _ = el.focus();
            }
        }
        if let Some(body) = document().body() {
            let _ = body.class_list().toggle_with_force("lightbox-open", open);
        }
    });
    // Leaving the page with the lightbox open (browser only: the server has no document).
    #[cfg(target_arch = "wasm32")]
    on_cleanup(|| {
        if let Some(body) = document().body() {
            let _ = body.class_list().remove_1("lightbox-open");
        }
    });

    let on_touchstart = move |e: web_sys::TouchEvent| {
        touch_x.set_value(e.changed_touches().get(0).map(|t| t.client_x()));
    };
    let on_touchend = move |e: web_sys::TouchEvent| {
        let start = touch_x.get_value();
        let end = e.changed_touches().get(0).map(|t| t.client_x());
        if let (Some(a), Some(b)) = (start, end) {
            if b - a > SWIPE_PX {
                step(-1);
            } else if a - b > SWIPE_PX {
                step(1);
            }
        }
    };
    let on_load = move |e: ev::Event| {
        let img: web_sys::HtmlImageElement = event_target(&e);
        dims.set(Some((img.natural_width(), img.natural_height())));
    };

    move || {
        let i = selected.get()?;
        let hit = hits.with(|h| h.get(i).cloned())?;
        let t = lang.get().t();
        let src = with_base(&crate::url::image(&hit.id));
        let filters = params.with_untracked(|p| crate::filters::Filters::from_params(|k| p.get(k)));
        let like = with_base(&crate::url::like_in(&hit.id, &filters));
        let size = hit.bytes.map(human_bytes);
        let also_in = (!hit.duplicates.is_empty()).then(|| {
            let paths = hit.copy_paths(", ");
            view! {
                <span class="lb-also-in" data-testid="lightbox-also-in">
                    {lang.get().also_in()}
                    {paths}
                </span>
            }
        });
        Some(view! {
            <div
                class="lightbox"
                role="dialog"
                aria-modal="true"
                aria-label=hit.name.clone()
                tabindex="-1"
                data-testid="lightbox"
                node_ref=dialog
                on:click=move |e: web_sys::MouseEvent| {
                    // A click on the backdrop (not the photo or the controls) closes.
                    if e.target() == e.current_target() {
                        close();
                    }
                }
                on:touchstart=on_touchstart
                on:touchend=on_touchend
            >
                <button class="lb-close" aria-label=t.close data-testid="lightbox-close" on:click=move |_| close()>
                    "×"
                </button>
                <button class="lb-prev" aria-label=t.previous data-testid="lightbox-prev" on:click=move |_| step(-1)>
                    "‹"
                </button>
                <figure>
                    <img src=src.clone() alt=hit.name.clone() on:load=on_load data-testid="lightbox-image" />
                    <figcaption>
                        <span class="lb-name" data-testid="lightbox-name">
                            {hit.name.clone()}
                        </span>
                        <span class="lb-facts">
                            {format!("{} {:.3}", t.similarity, hit.score)}
                            {move || dims.get().map(|(w, h)| format!(" · {w} × {h} px"))}
                            {size.map(|s| format!(" · {s}"))}
                        </span>
                        {also_in}
                        <span class="lb-links">
                            <a href=like data-testid="lightbox-like">
                                {t.more_like_this}
                            </a>
                            <a href=src target="_blank" rel="noopener">
                                {t.open_original}
                            </a>
                        </span>
                    </figcaption>
                    <PhotoPoemPanel photo_id=hit.id.clone() />
                </figure>
                <button class="lb-next" aria-label=t.next data-testid="lightbox-next" on:click=move |_| step(1)>
                    "›"
                </button>
            </div>
        })
    }
}

/// 1234567 → "1.2 MB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        assert_eq!(human_bytes(98_000), "98.0 KB");
    }
}
