//! The hydrating WASM client: takes over the server-rendered page.

// The home page's view type (poem box, suggestions, storyboard, poem panel, upload…) is deep:
// its monomorphisation in the release client needs more than the default 128.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Under a sub-path, server functions are called there too.
    app::assets::server_fns_under_base();
    leptos::mount::hydrate_body(app::App);
    // Tests (and curious people) can tell when the page is interactive.
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("data-hydrated", "1");
    }
}
