//! Link previews: `og:title`, `og:description`, `og:image`, `og:url` and
//! `twitter:card=summary_large_image` for every search URL (`?q=`, `?img=`, `?like=`,
//! `?poem=`), so a shared link previews in chat apps. `og:image` is the server-rendered share
//! card of the same search (`/card.jpg?…`, see `server/src/http/card.rs`). URLs are absolute:
//! under `--public-url` when set, else the page's own origin (`url::site_address`).

use leptos::prelude::*;
use leptos_meta::Meta;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::url;

/// The parameters that make a search (and its card); everything else (lang, k, all) is left out.
const SEARCH_KEYS: [&str; 6] = ["q", "img", "like", "w", "poem", "alt"];

/// What the tags say for one search.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    pub title: String,
    pub description: String,
    /// `?q=…` etc. (starting with `?`).
    pub query: String,
}

/// The preview of a search, or `None` when the URL holds no search.
pub fn preview(params: &ParamsMap) -> Option<Preview> {
    let get = |k: &str| params.get(k).filter(|v| !v.trim().is_empty());
    let mut kept = ParamsMap::new();
    for k in SEARCH_KEYS {
        if let Some(v) = get(k) {
            kept.insert(k, v);
        }
    }
    let clip = |s: &str, n: usize| {
        let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if flat.chars().count() > n {
            format!("{}…", flat.chars().take(n).collect::<String>())
        } else {
            flat
        }
    };
    let (title, description) = if let Some(poem) = get("poem") {
        let first = poem
            .split(['，', '。', '！', '？', '；', '、', ',', '.', '\n'])
            .find(|s| !s.trim().is_empty())
            .unwrap_or_default();
        (
            format!("「{}」以诗配图 · 诗画 shihua", clip(first, 20)),
            format!("一句一图：{}", clip(&poem, 120)),
        )
    } else if let Some(q) = get("q") {
        (
            format!("「{}」 · 诗画 shihua", clip(&q, 30)),
            format!("以文搜图：用诗句「{}」找到的照片", clip(&q, 80)),
        )
    } else if get("img").is_some() || get("like").is_some() {
        (
            "这张照片像哪句诗 · 诗画 shihua".to_owned(),
            "以图搜图、以图寻诗：与这张照片相似的照片，和最像它的古诗句".to_owned(),
        )
    } else {
        return None;
    };
    Some(Preview {
        title,
        description,
        query: kept.to_query_string(),
    })
}

#[component]
pub fn ShareMeta() -> impl IntoView {
    let params = use_query_map();
    // Absolute URLs, under `--public-url` when the server has one.
    let site = url::site_address();
    let info = Memo::new(move |_| params.with(preview));
    move || {
        info.get().map(|p| {
            let page = format!("{site}/{}", p.query);
            let image = format!("{site}{}", url::card(&p.query));
            view! {
                <Meta property="og:type" content="website" />
                <Meta property="og:site_name" content="诗画 shihua" />
                <Meta property="og:title" content=p.title.clone() />
                <Meta property="og:description" content=p.description.clone() />
                <Meta property="og:url" content=page />
                <Meta property="og:image" content=image.clone() />
                <Meta property="og:image:width" content="1200" />
                <Meta property="og:image:height" content="630" />
                <Meta name="twitter:card" content="summary_large_image" />
                <Meta name="twitter:title" content=p.title />
                <Meta name="twitter:image" content=image />
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&'static str, &str)]) -> ParamsMap {
        let mut p = ParamsMap::new();
        for (k, v) in pairs {
            p.insert(*k, v.to_string());
        }
        p
    }

    #[test]
    fn every_search_kind_has_a_preview() {
        let q = preview(&params(&[("q", "夕阳西下"), ("lang", "en")])).unwrap();
        assert!(q.title.contains("夕阳西下"));
        assert!(q.query.starts_with("?q="));
        assert!(!q.query.contains("lang"));
        let poem = preview(&params(&[
            ("poem", "枯藤老树昏鸦，小桥流水人家"),
            ("alt", "1.1"),
        ]))
        .unwrap();
        assert!(poem.title.contains("枯藤老树昏鸦") && !poem.title.contains("小桥"));
        assert!(poem.query.contains("alt="));
        assert!(preview(&params(&[("like", "42")])).is_some());
        assert!(preview(&params(&[("img", "abc")])).is_some());
        assert!(preview(&params(&[("lang", "en")])).is_none());
    }
}
