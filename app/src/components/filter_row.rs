//! The filter row inside the poem box's GET form: folder (`in`, with the indexed folders
//! offered as a datalist), date taken from / to (`from`, `to`: YYYY, YYYY-MM or YYYY-MM-DD) and
//! orientation (`orient`). Plain form fields, so the filters travel in the URL with or without
//! the client; "clear filters" is one link to the same search without them. Folded under a
//! "filters" summary until a filter is set.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::list_folders;
use crate::filters::{Orient, FILTER_KEYS};
use crate::i18n::use_lang;
use crate::search::Query;
use crate::url::href_with;

/// A date as the fields accept it (the server checks it again and says what is wrong).
const DATE_PATTERN: &str = r"\d{4}(-\d{2}(-\d{2})?)?";

#[component]
pub fn FilterRow(
    /// The search currently in the URL (its filters fill the fields).
    query: Memo<Query>,
) -> impl IntoView {
    let lang = use_lang();
    let params = use_query_map();
    let folders = Resource::new(|| (), |_| list_folders());
    let filters = Memo::new(move |_| query.read().filters.clone());
    let value = move |f: fn(&crate::filters::Filters) -> Option<String>| {
        move || filters.with(|x| f(x).unwrap_or_default())
    };
    let active = move || !filters.read().is_empty();
    let clear = move || {
        let changes: Vec<(&'static str, Option<&str>)> = FILTER_KEYS
            .iter()
            .map(|k| (*k, None))
            .chain([("page", None)])
            .collect();
        params.with(|p| href_with(p, &changes))
    };
    let orient_label = move |o: Orient| {
        let t = lang.get().t();
        match o {
            Orient::Landscape => t.orient_landscape,
            Orient::Portrait => t.orient_portrait,
            Orient::Square => t.orient_square,
        }
    };
    // Folded under "filters" (a native <details>, no script needed) unless a filter is set,
    // so the poem box stays small on a phone.
    view! {
        <details class="filter-box" open=active>
        <summary data-testid="filters-toggle">{move || lang.get().t().filters}</summary>
        <fieldset class="filters" class:active=active data-testid="filters">
            <legend class="visually-hidden">{move || lang.get().t().filters}</legend>
            <label class="filter">
                <span>{move || lang.get().t().filter_in}</span>
                <input
                    type="text"
                    name="in"
                    list="filter-folders"
                    maxlength="200"
                    autocomplete="off"
                    placeholder=move || lang.get().t().filter_in_placeholder
                    prop:value=value(|f| f.folder.clone())
                    value=value(|f| f.folder.clone())
                    data-testid="filter-in"
                />
            </label>
            <Transition fallback=|| ()>
                {move || {
                    folders
                        .get()
                        .map(|r| {
                            let list = r.unwrap_or_default();
                            view! {
                                <datalist id="filter-folders">
                                    {list
                                        .into_iter()
                                        .map(|f| view! { <option value=f></option> })
                                        .collect_view()}
                                </datalist>
                            }
                        })
                }}
            </Transition>
            <DateField name="from" label=|t| t.filter_from value=value(|f| f.from.clone()) />
            <DateField name="to" label=|t| t.filter_to value=value(|f| f.to.clone()) />
            <label class="filter">
                <span class="visually-hidden">{move || lang.get().t().filter_orient}</span>
                <select
                    name="orient"
                    data-testid="filter-orient"
                    prop:value=move || filters.read().orient.clone().unwrap_or_default()
                >
                    <option value="" selected=move || filters.read().orient.is_none()>
                        {move || lang.get().t().orient_any}
                    </option>
                    {Orient::ALL
                        .into_iter()
                        .map(|o| {
                            view! {
                                <option
                                    value=o.as_str()
                                    selected=move || {
                                        filters.read().orient.as_deref() == Some(o.as_str())
                                    }
                                >
                                    {move || orient_label(o)}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <Show when=active>
                <a class="clear-filters" href=clear data-testid="clear-filters">
                    {move || lang.get().t().clear_filters}
                </a>
            </Show>
        </fieldset>
        </details>
    }
    // Erased: the poem box's view type is deep enough already (rustc's query depth limit).
    .into_any()
}

/// One date field (`from` or `to`): a text field that takes YYYY, YYYY-MM or YYYY-MM-DD.
#[component]
fn DateField(
    name: &'static str,
    label: fn(&'static crate::i18n::Texts) -> &'static str,
    value: impl Fn() -> String + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let lang = use_lang();
    let shown = value.clone();
    view! {
        <label class="filter date">
            <span>{move || label(lang.get().t())}</span>
            <input
                type="text"
                name=name
                inputmode="numeric"
                maxlength="10"
                pattern=DATE_PATTERN
                placeholder=move || lang.get().t().filter_date_placeholder
                title=move || lang.get().t().filter_date_title
                prop:value=value
                value=shown
                data-testid=format!("filter-{name}")
            />
        </label>
    }
}
