//! Where the page's own files live: the hydrating client (`.js` + `.wasm`), the stylesheet
//! and the icon, under the site's base path. `scripts/build-site.sh` gives release builds
//! content-hashed names and lists them in `pkg/assets.json`; the server reads that file and
//! provides `SiteAssets` to the shell, which writes the `<link>`/`<script>` tags.

use serde::{Deserialize, Serialize};

/// Name of the list of hashed file names that `scripts/build-site.sh` writes into `pkg/`.
pub const ASSETS_FILE: &str = "assets.json";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteAssets {
    /// URL prefix the site lives under: "" at the root, "/shihua" behind a proxy's sub-path.
    #[serde(default)]
    pub base: String,
    /// File names inside `pkg/`.
    pub js: String,
    pub wasm: String,
    pub css: String,
    /// Public address of the site (`--public-url`, e.g. `https://example.org/shihua`): share
    /// links use it instead of the address the browser happens to show. "" when unset.
    #[serde(default)]
    pub public_url: String,
}

impl Default for SiteAssets {
    /// The names `wasm-bindgen` gives (a debug build, or a site built without hashing).
    fn default() -> Self {
        SiteAssets {
            base: String::new(),
            js: "shihua.js".into(),
            wasm: "shihua_bg.wasm".into(),
            css: "shihua.css".into(),
            public_url: String::new(),
        }
    }
}

impl SiteAssets {
    /// URL of a file in `pkg/`.
    pub fn pkg(&self, file: &str) -> String {
        format!("{}/pkg/{file}", self.base)
    }

    /// The inline module script that loads the client and hydrates the page (what Leptos'
    /// `HydrationScripts` writes, with our own file names).
    pub fn boot_script(&self) -> String {
        format!(
            "import({js:?}).then(m=>m.default({{module_or_path:{wasm:?}}}).then(()=>m.hydrate()))",
            js = self.pkg(&self.js),
            wasm = self.pkg(&self.wasm),
        )
    }

    /// True when the names carry a content hash (safe to cache for a year).
    pub fn hashed(&self) -> bool {
        *self
            != SiteAssets {
                base: self.base.clone(),
                public_url: self.public_url.clone(),
                ..SiteAssets::default()
            }
    }
}

/// The path the site lives under ("" at the root): on the server from the `SiteAssets` in
/// context, in the browser from `<html data-base>`, which the shell writes.
pub fn base_path() -> String {
    #[cfg(feature = "ssr")]
    {
        leptos::prelude::use_context::<SiteAssets>()
            .map(|a| a.base)
            .unwrap_or_default()
    }
    #[cfg(not(feature = "ssr"))]
    {
        root_attribute("data-base").unwrap_or_default()
    }
}

/// The site's public address (`--public-url`), when the server has one: on the server from
/// the `SiteAssets` in context, in the browser from `<html data-public-url>`.
pub fn public_url() -> Option<String> {
    #[cfg(feature = "ssr")]
    {
        leptos::prelude::use_context::<SiteAssets>()
            .map(|a| a.public_url)
            .filter(|u| !u.is_empty())
    }
    #[cfg(not(feature = "ssr"))]
    {
        root_attribute("data-public-url")
    }
}

/// `path` (starting with `/`) under the base path: what an `<a href>` or `<img src>` needs.
/// (Router navigation adds the base itself: give it the bare path.)
pub fn with_base(path: &str) -> String {
    format!("{}{path}", base_path())
}

/// An attribute of `<html>`, in the browser.
#[cfg(not(feature = "ssr"))]
pub fn root_attribute(name: &str) -> Option<String> {
    web_sys::window()?
        .document()?
        .document_element()?
        .get_attribute(name)
        .filter(|v| !v.is_empty())
}

/// In the browser: server functions are called under the base path (`/shihua/api/...`).
#[cfg(not(feature = "ssr"))]
pub fn server_fns_under_base() {
    let base = base_path();
    if !base.is_empty() {
        server_fn::client::set_server_url(Box::leak(base.into_boxed_str()));
    }
}

/// Normalises a `--base-path`: "" for the root, else "/a/b" (leading slash, none trailing).
pub fn normalize_base(base: &str) -> String {
    let trimmed = base.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_normalise() {
        assert_eq!(normalize_base(""), "");
        assert_eq!(normalize_base("/"), "");
        assert_eq!(normalize_base("shihua/"), "/shihua");
        assert_eq!(normalize_base("/a/b/"), "/a/b");
    }

    #[test]
    fn urls_follow_the_base_path() {
        let mut a = SiteAssets::default();
        assert_eq!(a.pkg(&a.js), "/pkg/shihua.js");
        assert!(!a.hashed());
        a.base = "/shihua".into();
        a.wasm = "shihua.0123abcd.wasm".into();
        assert_eq!(a.pkg(&a.wasm), "/shihua/pkg/shihua.0123abcd.wasm");
        assert!(a.hashed());
        assert!(a
            .boot_script()
            .contains("module_or_path:\"/shihua/pkg/shihua.0123abcd.wasm\""));
    }
}
