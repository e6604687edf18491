//! The discreet indexing progress bar under the banner: while photos are being indexed (the
//! server's watch folders, or a `shihua index` run on the same collection) it shows
//! done/total, the rate and the time left, then "done" for a few seconds. Rendered on the
//! server from `ServerStatus::indexing`, so without a script the status shows on reload; with
//! the client it follows `GET /api/v1/progress` (server-sent events through the browser's
//! `EventSource`: no inline script, `connect-src 'self'`). While the server is idle that
//! stream answers at once and the browser asks again two seconds later, so an idle page holds
//! no connection.

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::assets::with_base;
use crate::i18n::use_lang;
use crate::search::IndexProgress;
use crate::url::PROGRESS_ROUTE;

/// How long the "done" line stays once a run has ended.
const DONE_SHOWN_MS: u64 = 6000;

#[component]
pub fn IndexProgressBar(
    /// The run in progress when the page was rendered.
    initial: Option<IndexProgress>,
) -> impl IntoView {
    let lang = use_lang();
    let state = RwSignal::new(initial.filter(|p| p.active));
    Effect::new(move |_| follow(state));
    move || {
        state.get().map(|p| {
            let l = lang.get();
            let line = if p.active {
                l.indexing_line(p.done, p.total, p.rate, p.eta_s)
            } else {
                l.indexed_line(p.done, p.failed)
            };
            let problem = p.last_error.clone().filter(|_| p.active || p.failed > 0);
            let phase = if p.active { "active" } else { "done" };
            view! {
                <div
                    class="index-progress"
                    data-testid="index-progress"
                    data-state=phase
                    data-done=p.done.to_string()
                    data-total=p.total.to_string()
                    role="status"
                    aria-live="polite"
                >
                    <progress
                        max=p.total.max(1).to_string()
                        value=p.done.min(p.total).to_string()
                        aria-label=l.t().indexing_label
                    ></progress>
                    <span class="index-progress-line" data-testid="index-progress-line">
                        {line}
                    </span>
                    {problem
                        .map(|e| {
                            let title = e.clone();
                            view! {
                                <span class="index-progress-problem" title=title>
                                    {e}
                                </span>
                            }
                        })}
                </div>
            }
        })
    }
}

/// In the browser: follows the progress stream into `state`. A run that ends after this page
/// saw it going shows "done" for `DONE_SHOWN_MS`; the snapshot of a run that ended before is
/// not shown.
fn follow(state: RwSignal<Option<IndexProgress>>) {
    let Ok(source) = web_sys::EventSource::new(&with_base(PROGRESS_ROUTE)) else {
        return;
    };
    let seen_going = Rc::new(Cell::new(
        state.with_untracked(|s| s.as_ref().is_some_and(|p| p.active)),
    ));
    let on_progress =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            let Ok(progress) = serde_json::from_str::<Option<IndexProgress>>(&text) else {
                return;
            };
            match progress {
                Some(p) if p.active => {
                    seen_going.set(true);
                    state.set(Some(p));
                }
                Some(p) if seen_going.get() => {
                    seen_going.set(false);
                    state.set(Some(p));
                    set_timeout(
                        move || {
                            if state.with_untracked(|s| s.as_ref().is_some_and(|p| !p.active)) {
                                state.set(None);
                            }
                        },
                        std::time::Duration::from_millis(DONE_SHOWN_MS),
                    );
                }
                _ => {}
            }
        });
    let _ =
        source.add_event_listener_with_callback("progress", on_progress.as_ref().unchecked_ref());
    // The listener lives as long as the page's stream.
    on_progress.forget();
    let source = StoredValue::new_local(source);
    on_cleanup(move || source.with_value(|s| s.close()));
}
