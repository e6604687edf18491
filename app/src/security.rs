//! The page's Content-Security-Policy: scripts only from this site or carrying this response's
//! nonce (the inline boot script and Leptos' serialized resources), WebAssembly compilation
//! (`'wasm-unsafe-eval'`), pictures from this site or `blob:` (the preview of an upload, which
//! the browser may also read back as a `blob:` fetch: the whole e2e run reported that twice
//! during uploads, so `connect-src` allows `blob:` too; such URLs are the page's own),
//! no plugins, no framing. The server adds the same policy minus scripts to every other
//! response (`server/src/http/security.rs`).

/// Where browsers report violations (under the site's base path).
pub const REPORT_PATH: &str = "/csp-report";

/// The policy for an HTML page whose inline scripts carry `nonce`, on a site under `base`.
pub fn page_policy(nonce: &str, base: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' blob: data:; connect-src 'self' blob:; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
         report-uri {base}{REPORT_PATH}"
    )
}

/// Provides a fresh nonce for this response (Leptos puts it on its own inline scripts), sets
/// the page policy header, and returns the nonce for the shell's script tags.
#[cfg(feature = "ssr")]
pub fn page_nonce() -> Option<String> {
    use leptos::nonce::{provide_nonce, use_nonce};
    use leptos::prelude::use_context;
    if use_nonce().is_none() {
        provide_nonce();
    }
    let nonce = use_nonce()?.to_string();
    let base = use_context::<crate::assets::SiteAssets>()
        .map(|a| a.base)
        .unwrap_or_default();
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(v) = http::HeaderValue::from_str(&page_policy(&nonce, &base)) {
            opts.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
    Some(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_the_nonce_and_forbids_framing() {
        let p = page_policy("abc", "/shihua");
        assert!(p.ends_with("report-uri /shihua/csp-report"), "{p}");
        assert!(p.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'"));
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(!p.contains("unsafe-inline"));
    }
}
