//! Links that change one thing about the current search: the page's state is its URL
//! (`/?q=…&img=…&like=…&w=…&k=…&all=1&lang=en`), so every toggle is a plain link that
//! works before the client has loaded and can be shared. `href_*` give `<a href>` values
//! (under the site's base path); `route_*` the bare path for the router's `navigate`.

use leptos_router::params::ParamsMap;

use crate::assets::with_base;

/// `href` for a link: `route_with` under the base path.
pub fn href_with(params: &ParamsMap, changes: &[(&'static str, Option<&str>)]) -> String {
    with_base(&route_with(params, changes))
}

/// `/` plus the current query with `key` set to `value` (or removed when `None`).
/// Values set here are ids and flags; they are escaped by the router.
pub fn route_with(params: &ParamsMap, changes: &[(&'static str, Option<&str>)]) -> String {
    let mut params = params.clone();
    for (key, value) in changes {
        match value {
            Some(v) => params.replace(*key, v.to_string()),
            None => {
                params.remove(key);
            }
        }
    }
    format!("/{}", params.to_query_string())
}

/// Router options for going to a full href (already under the base path): the router's own
/// resolution would drop the `/` before `?` under a base path (`/shihua?q=` for `/?q=`).
pub fn as_is() -> leptos_router::NavigateOptions {
    leptos_router::NavigateOptions {
        resolve: false,
        ..Default::default()
    }
}

/// A fresh search link (under the base path): only the given parameters, escaped.
pub fn search_href(pairs: &[(&'static str, &str)]) -> String {
    let mut params = ParamsMap::new();
    for (k, v) in pairs {
        params.insert(*k, v.to_string());
    }
    with_base(&format!("/{}", params.to_query_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_change_one_parameter() {
        let mut p = ParamsMap::new();
        p.insert("q", "夕阳 - 城市".to_string());
        let shown = route_with(&p, &[("all", Some("1"))]);
        assert!(shown.starts_with("/?q="), "{shown}");
        assert!(shown.ends_with("&all=1"), "{shown}");
        assert!(!shown.contains(' '), "{shown}");
        assert_eq!(route_with(&p, &[("q", None)]), "/");
        assert_eq!(href_with(&p, &[("q", None)]), "/");
        assert_eq!(search_href(&[("like", "42")]), "/?like=42");
    }
}
