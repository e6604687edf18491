//! The picture upload control (以图搜图). `accept="image/*"` lets phones offer the camera.
//! It hands the chosen file to the page, which sends it to the `search_image` server function.

use leptos::prelude::*;

#[component]
pub fn Upload(
    /// Called with the file the visitor picked.
    on_file: Callback<web_sys::File>,
) -> impl IntoView {
    let on_change = move |ev: web_sys::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|files| files.get(0)) {
            on_file.run(file);
        }
        // Allow picking the same file again.
        input.set_value("");
    };

    view! {
        <label class="upload">
            <input
                type="file"
                accept="image/*"
                name="image"
                data-testid="upload-input"
                on:change=on_change
            />
            <span>"以图搜图 · search with a picture"</span>
        </label>
    }
}
