//! Poem-box suggestions: while typing, whole corpus lines that start with (then contain, then
//! fuzzily hold) what was typed, each with its poem and poet. Keyboard (↓/↑ to move, Enter to
//! search with the highlighted line, Esc to close) and touch (each is a plain link). Safe with
//! Chinese input methods: nothing is looked up between `compositionstart` and
//! `compositionend`, only the composed text afterwards.

use std::time::Duration;

use leptos::prelude::*;

use crate::i18n::use_lang;
use crate::poems::PoemLine;
use crate::url::search_href;

/// Pause after the last keystroke before asking the server.
const DEBOUNCE: Duration = Duration::from_millis(120);

/// The suggestion state the poem box drives.
#[derive(Clone, Copy)]
pub struct Suggest {
    pub items: RwSignal<Vec<PoemLine>>,
    pub active: RwSignal<Option<usize>>,
    pub composing: RwSignal<bool>,
    /// Number of the latest lookup: older answers are dropped.
    seq: StoredValue<u64>,
}

impl Default for Suggest {
    fn default() -> Self {
        Self::new()
    }
}

impl Suggest {
    pub fn new() -> Self {
        Suggest {
            items: RwSignal::new(Vec::new()),
            active: RwSignal::new(None),
            composing: RwSignal::new(false),
            seq: StoredValue::new(0),
        }
    }

    /// The text changed (typed, pasted, or a composition ended).
    pub fn on_input(self, value: String) {
        if self.composing.get_untracked() {
            return;
        }
        let n = self.seq.get_value() + 1;
        self.seq.set_value(n);
        if value.trim().is_empty() || value.contains('\n') {
            self.close();
            return;
        }
        set_timeout(
            move || {
                if self.seq.get_value() != n {
                    return;
                }
                leptos::task::spawn_local(async move {
                    let found = crate::api::suggest_lines(value).await.unwrap_or_default();
                    if self.seq.get_value() == n && !self.composing.get_untracked() {
                        self.items.set(found);
                        self.active.set(None);
                    }
                });
            },
            DEBOUNCE,
        );
    }

    pub fn close(self) {
        self.seq.update_value(|n| *n += 1);
        self.items.set(Vec::new());
        self.active.set(None);
    }

    /// Handles ↓ ↑ Esc, and Enter on a highlighted line (returning the search link to go to).
    /// `None`: the key is not the list's (the box handles it).
    pub fn on_key(self, ev: &web_sys::KeyboardEvent) -> Option<Option<String>> {
        if ev.is_composing() || self.composing.get_untracked() {
            return None;
        }
        let n = self.items.with_untracked(Vec::len);
        if n == 0 {
            return None;
        }
        match ev.key().as_str() {
            "ArrowDown" => {
                self.active
                    .update(|a| *a = Some(a.map_or(0, |i| (i + 1) % n)));
            }
            "ArrowUp" => {
                self.active
                    .update(|a| *a = Some(a.map_or(n - 1, |i| (i + n - 1) % n)));
            }
            "Escape" => self.close(),
            "Enter" if !ev.shift_key() => {
                let i = self.active.get_untracked()?;
                let text = self
                    .items
                    .with_untracked(|v| v.get(i).map(|l| l.text.clone()))?;
                ev.prevent_default();
                self.close();
                return Some(Some(search_href(&[("q", &text)])));
            }
            _ => return None,
        }
        ev.prevent_default();
        Some(None)
    }
}

/// The list under the poem box.
#[component]
pub fn SuggestList(state: Suggest) -> impl IntoView {
    let lang = use_lang();
    view! {
        <ul
            class="suggestions"
            id="poem-suggestions"
            role="listbox"
            aria-label=move || lang.get().poem_t().suggestions
            data-testid="suggestions"
            hidden=move || state.items.with(Vec::is_empty)
        >
            {move || {
                state
                    .items
                    .get()
                    .into_iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let href = search_href(&[("q", &l.text)]);
                        view! {
                            <li
                                role="option"
                                id=format!("suggestion-{i}")
                                aria-selected=move || (state.active.get() == Some(i)).to_string()
                                class:active=move || state.active.get() == Some(i)
                                data-testid="suggestion"
                            >
                                <a href=href on:click=move |_| state.close()>
                                    <span class="suggestion-text">{l.text.clone()}</span>
                                    <span class="poem-source">
                                        {format!("《{}》 {}", l.title, l.author)}
                                    </span>
                                </a>
                            </li>
                        }
                    })
                    .collect_view()
            }}
        </ul>
    }
}
