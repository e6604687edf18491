//! The hydrating WASM client: takes over the server-rendered page.

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
