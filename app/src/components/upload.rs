//! Search with a picture (以图搜图): a file picker (`accept="image/*"`, so phones offer the
//! camera), drag-and-drop onto the search area, and paste. The picture is shrunk in the browser
//! (`downscale`) and handed to the page. Without the client, the same control is a plain
//! multipart form posting to `/upload`, which redirects to the search.

use leptos::ev;
use leptos::prelude::*;

use crate::assets::with_base;
use crate::i18n::use_lang;
use crate::search::IMAGE_FIELD;

#[component]
pub fn Upload(
    /// Called with the (downscaled) picture and its file name.
    on_upload: Callback<(web_sys::Blob, String)>,
) -> impl IntoView {
    let lang = use_lang();
    let dragging = RwSignal::new(false);
    let take = move |file: web_sys::File| {
        leptos::task::spawn_local(async move {
            on_upload.run(crate::downscale::for_upload(file).await);
        });
    };

    let on_change = move |ev: web_sys::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|files| files.get(0)) {
            take(file);
        }
        // Allow picking the same file again.
        input.set_value("");
    };
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if let Some(file) = ev
            .data_transfer()
            .and_then(|dt| dt.files())
            .and_then(|files| files.get(0))
        {
            take(file);
        }
    };
    let on_dragover = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        dragging.set(true);
    };
    // A picture pasted anywhere on the page (not into the poem box as text) is a query.
    let paste = window_event_listener(ev::paste, move |ev| {
        let file = ev
            .clipboard_data()
            .and_then(|dt| dt.files())
            .and_then(|files| files.get(0))
            .filter(|f| f.type_().starts_with("image/"));
        if let Some(file) = file {
            ev.prevent_default();
            take(file);
        }
    });
    on_cleanup(move || paste.remove());

    view! {
        <form
            class="upload"
            class:dragging=move || dragging.get()
            method="post"
            action=with_base(crate::url::UPLOAD_ROUTE)
            enctype="multipart/form-data"
            data-testid="dropzone"
            on:dragover=on_dragover
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
            on:submit=|ev| ev.prevent_default()
        >
            <label class="upload-button">
                <input
                    type="file"
                    accept="image/*"
                    name=IMAGE_FIELD
                    data-testid="upload-input"
                    on:change=on_change
                />
                <span>{move || lang.get().t().upload}</span>
            </label>
            <span class="drop-hint">{move || lang.get().t().drop_hint}</span>
            // Without the client, picking a file needs a submit; hidden once hydrated.
            <button type="submit" class="no-js-submit">
                {move || lang.get().t().search}
            </button>
        </form>
    }
}
