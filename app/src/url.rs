//! Every URL of the site, in one place: the routes the server mounts (in the router's `{id}`
//! syntax), the path to one photo, thumbnail, query picture or share card, the search links,
//! the absolute address others can open, and `Query::from_params` (the search a URL names).
//!
//! The page's state is its URL (`/?q=…&img=…&like=…&w=…&k=…&page=…&all=1&lang=en`), so every
//! toggle is a plain link that works before the client has loaded and can be shared. Paths
//! here are bare (`/thumb/1`); `href_*`/`search_href` and `with_base` put them under the
//! site's base path for `<a href>` and `<img src>`; `route_*` give the bare path for the
//! router's `navigate`. The server adds its base itself (`SiteAssets::base`).

use leptos_router::params::ParamsMap;

use crate::assets::with_base;
use crate::filters::Filters;
use crate::query::{check_weight, QueryError};
use crate::search::{parse_page, Query};

/// `GET`: a photo's thumbnail (`?w=` its width).
pub const THUMB_ROUTE: &str = "/thumb/{id}";
/// `GET`: the original photo.
pub const IMAGE_ROUTE: &str = "/image/{id}";
/// `GET`: the preview of an uploaded query picture.
pub const QUERY_ROUTE: &str = "/query/{id}";
/// `GET`: the share card of a search (same parameters as the search).
pub const CARD_ROUTE: &str = "/card.jpg";
/// `POST`: the script-free upload form.
pub const UPLOAD_ROUTE: &str = "/upload";
/// `GET`: the indexing progress as server-sent events (`text/event-stream`).
pub const PROGRESS_ROUTE: &str = "/api/v1/progress";

/// The thumbnail of photo `id`, `w` pixels wide.
pub fn thumb(id: impl std::fmt::Display, w: u32) -> String {
    format!("{}?w={w}", thumb_default(id))
}

/// The thumbnail of photo `id` at the server's default width.
pub fn thumb_default(id: impl std::fmt::Display) -> String {
    format!("/thumb/{id}")
}

/// The original of photo `id`.
pub fn image(id: impl std::fmt::Display) -> String {
    format!("/image/{id}")
}

/// The preview of the uploaded query picture `id`.
pub fn query_picture(id: &str) -> String {
    format!("/query/{id}")
}

/// The share card for a search; `query` is `?q=…` etc. (or "").
pub fn card(query: &str) -> String {
    format!("{CARD_ROUTE}{query}")
}

/// "More like this": the search for photos like photo `id`.
pub fn like(id: &str) -> String {
    search_route(&[("like", id)])
}

/// "More like this" inside the same filters (`in`, `from`, `to`, `orient` of `filters`).
pub fn like_in(id: &str, filters: &Filters) -> String {
    let mut pairs = vec![("like", id)];
    pairs.extend(filters.pairs());
    search_route(&pairs)
}

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

/// A fresh search (bare path): only the given parameters, escaped. `&[]` is the home page.
pub fn search_route(pairs: &[(&'static str, &str)]) -> String {
    let mut params = ParamsMap::new();
    for (k, v) in pairs {
        params.insert(*k, v.to_string());
    }
    format!("/{}", params.to_query_string())
}

/// A fresh search link (under the base path): only the given parameters, escaped.
pub fn search_href(pairs: &[(&'static str, &str)]) -> String {
    with_base(&search_route(pairs))
}

/// The address others can open the site at, without a trailing `/`: `--public-url` when the
/// server has one (the address this page was reached by may be an internal one), else this
/// page's origin and base path. An absolute URL is this plus a bare path (`/?q=…`).
pub fn site_address() -> String {
    match crate::assets::public_url() {
        Some(public) => public.trim_end_matches('/').to_owned(),
        None => format!("{}{}", origin(), crate::assets::base_path()),
    }
}

/// `scheme://host` of the page: on the server from the request (`Host`,
/// `X-Forwarded-Host`, `X-Forwarded-Proto`), in the browser `location.origin`.
fn origin() -> String {
    #[cfg(feature = "ssr")]
    {
        use leptos::prelude::use_context;
        if let Some(parts) = use_context::<http::request::Parts>() {
            let h = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(|s| s.split(',').next().unwrap_or("").trim().to_owned())
                    .filter(|s| !s.is_empty())
            };
            let host = h("x-forwarded-host")
                .or_else(|| h("host"))
                .unwrap_or_else(|| "localhost".to_owned());
            let proto = h("x-forwarded-proto").unwrap_or_else(|| "http".to_owned());
            return format!("{proto}://{host}");
        }
        String::new()
    }
    #[cfg(not(feature = "ssr"))]
    {
        web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_default()
    }
}

/// The page number a page's URL names: like a bad `w`, one that is not a whole number from 1
/// is left out (page 1) rather than refused. (The JSON API refuses it: `parse_page`.)
pub fn page_from_url(page: Option<&str>) -> u32 {
    parse_page(page).unwrap_or(1)
}

/// `all=1` (also `true`, `yes`, `on`): show every result, unfolded and without the cut-off.
/// Anything else, or no `all`, is the default view.
pub fn all_flag(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

impl Query {
    /// The search that URL parameters name (`q`, `img`, `like`, `w`, `all`, and the filters
    /// `in`, `from`, `to`, `orient`), for the page and the JSON API alike. Empty values count as
    /// absent; a `w` that is not a valid weight (`check_weight`) is an error; `all=1` (or
    /// `true`) unfolds duplicates (`all_flag`). Filter values are kept as given: the engine
    /// checks them (`Filters::check`) and refuses bad ones with a clear message, on the page
    /// as in the API.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> Result<Query, QueryError> {
        let nonempty = |k: &str| get(k).filter(|s| !s.trim().is_empty());
        let w = nonempty("w").map(|w| check_weight(&w)).transpose()?;
        Ok(Query {
            q: get("q").unwrap_or_default(),
            img: nonempty("img"),
            like: nonempty("like"),
            w,
            filters: Filters::from_params(&get),
            all: all_flag(nonempty("all").as_deref()),
        })
    }

    /// The search a page's URL names: as `from_params`, but a `w` that is not a valid weight
    /// is left out rather than refused (the page still shows the rest of the search).
    pub fn from_page_params(get: impl Fn(&str) -> Option<String>) -> Query {
        Query::from_params(|k| get(k).filter(|v| k != "w" || check_weight(v).is_ok()))
            .unwrap_or_default()
    }
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
        assert_eq!(search_route(&[]), "/");
        p.insert("page", "3".to_string());
        assert!(route_with(&p, &[("page", Some("4"))]).ends_with("&page=4"));
        assert!(!route_with(&p, &[("page", None)]).contains("page"));
    }

    #[test]
    fn a_page_number_from_the_url() {
        assert_eq!(page_from_url(None), 1);
        assert_eq!(page_from_url(Some("4")), 4);
        assert_eq!(page_from_url(Some("zero")), 1);
        assert_eq!(page_from_url(Some("0")), 1);
    }

    #[test]
    fn media_paths() {
        assert_eq!(thumb(7, 480), "/thumb/7?w=480");
        assert_eq!(image("7"), "/image/7");
        assert_eq!(query_picture("ab12"), "/query/ab12");
        assert_eq!(card("?q=x"), "/card.jpg?q=x");
        assert_eq!(like("7"), "/?like=7");
        let f = Filters {
            folder: Some("2019/杭州".into()),
            orient: Some("square".into()),
            ..Default::default()
        };
        assert_eq!(
            like_in("7", &f),
            "/?like=7&in=2019%2F%E6%9D%AD%E5%B7%9E&orient=square"
        );
        // The routes the server mounts name the same paths.
        assert_eq!(THUMB_ROUTE.replace("{id}", "7"), thumb_default(7));
        assert_eq!(IMAGE_ROUTE.replace("{id}", "7"), image(7));
        assert_eq!(QUERY_ROUTE.replace("{id}", "ab12"), query_picture("ab12"));
    }

    #[test]
    fn a_query_from_url_parameters() {
        let params = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let q = Query::from_params(params(&[
            ("q", "夕阳"),
            ("img", " "),
            ("like", "3"),
            ("w", "2"),
        ]))
        .unwrap();
        assert_eq!(q.q, "夕阳");
        assert_eq!(q.img, None);
        assert_eq!(q.like.as_deref(), Some("3"));
        assert_eq!(q.w, Some(2.0));
        assert_eq!(Query::from_params(params(&[("w", "")])).unwrap().w, None);
        assert!(Query::from_params(params(&[("w", "0")])).is_err());
        assert!(Query::from_params(params(&[])).unwrap().is_empty());
        let page = Query::from_page_params(params(&[("q", "夕阳"), ("w", "0")]));
        assert_eq!((page.q.as_str(), page.w), ("夕阳", None));
        assert!(!page.all);
        assert!(
            Query::from_params(params(&[("q", "夕阳"), ("all", "1")]))
                .unwrap()
                .all
        );
        assert!(!Query::from_params(params(&[("all", "0")])).unwrap().all);
        assert!(all_flag(Some("true")) && !all_flag(Some("")) && !all_flag(None));
    }
}
