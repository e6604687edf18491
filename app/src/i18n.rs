//! Interface language: Chinese or English, every visible string of the page in one table per
//! language. The server picks the language from `?lang=`, then the `lang` cookie, then
//! `Accept-Language`; the page keeps it in a context signal that the switch changes.

use leptos::prelude::*;

/// Cookie that remembers the visitor's choice.
pub const LANG_COOKIE: &str = "lang";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Short form used in URLs and the cookie.
    pub fn short(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// `zh`, `zh-CN`, `en-GB`... → a language we have; anything else → None.
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        let primary = s.split(['-', '_']).next().unwrap_or("");
        match primary {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The best match in an `Accept-Language` header (by q value, then order); Chinese when
    /// nothing matches.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("");
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag) {
                if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }

    pub fn t(self) -> &'static Texts {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    pub fn results_line(self, shown: usize, ms: u64) -> String {
        match self {
            Lang::Zh => format!("{shown} 张照片 · {ms} 毫秒"),
            Lang::En => format!("{shown} photos · {ms} ms"),
        }
    }

    pub fn hidden_line(self, hidden: usize) -> String {
        match self {
            Lang::Zh => format!("另有 {hidden} 张相似度远低于最佳结果，已隐藏。"),
            Lang::En => format!("{hidden} more far below the best match are hidden."),
        }
    }

    /// What a visitor reads when picture searches are queued full (HTTP 429).
    pub fn busy_line(self, seconds: u64) -> String {
        match self {
            Lang::Zh => format!("请等 {seconds} 秒左右再试一次，以文搜图不受影响。"),
            Lang::En => format!(
                "Please try again in about {seconds} s. Searching with a line of poetry still works."
            ),
        }
    }

    /// Which page of the results this is.
    pub fn page_line(self, page: u32) -> String {
        match self {
            Lang::Zh => format!("第 {page} 页"),
            Lang::En => format!("page {page}"),
        }
    }

    /// The progress bar while photos are being indexed.
    pub fn indexing_line(self, done: u64, total: u64, rate: f32, eta_s: Option<u64>) -> String {
        let eta = eta_s.map(|s| match (self, s) {
            (Lang::Zh, s) if s >= 120 => format!(" · 约 {} 分钟", s.div_ceil(60)),
            (Lang::Zh, s) => format!(" · 约 {s} 秒"),
            (Lang::En, s) if s >= 120 => format!(" · about {} min left", s.div_ceil(60)),
            (Lang::En, s) => format!(" · about {s} s left"),
        });
        let eta = eta.unwrap_or_default();
        match self {
            Lang::Zh if rate > 0.0 => {
                format!("正在索引新照片 {done}/{total} · 每秒 {rate:.1} 张{eta}")
            }
            Lang::Zh => format!("正在索引新照片 {done}/{total}"),
            Lang::En if rate > 0.0 => {
                format!("Indexing new photos {done}/{total} · {rate:.1}/s{eta}")
            }
            Lang::En => format!("Indexing new photos {done}/{total}"),
        }
    }

    /// The progress bar once a run has ended.
    pub fn indexed_line(self, done: u64, failed: u64) -> String {
        match (self, failed) {
            (Lang::Zh, 0) => format!("索引完成：{done} 张照片"),
            (Lang::Zh, f) => format!("索引完成：{done} 张照片，其中 {f} 张无法读取"),
            (Lang::En, 0) => format!("Indexing done: {done} photos"),
            (Lang::En, f) => format!("Indexing done: {done} photos, {f} could not be read"),
        }
    }

    /// A page past the results a search can reach (`search::MAX_WINDOW`).
    pub fn past_end_line(self, k: usize, page: u32, last: u32) -> String {
        let max = crate::search::MAX_WINDOW;
        match self {
            Lang::Zh => format!(
                "一次搜索最多翻到第 {max} 张照片：每页 {k} 张时，最后一页是第 {last} 页，没有第 {page} 页。换一句更贴切的诗，或回到前面的页。"
            ),
            Lang::En => format!(
                "A search reaches its best {max} photos at most: with {k} per page the last page is {last}, so there is no page {page}. Try a closer line, or go back."
            ),
        }
    }

    pub fn model_line(self, model: &str, rows: u64) -> String {
        match self {
            Lang::Zh => format!("模型 {model} · 已索引 {rows} 张照片"),
            Lang::En => format!("model {model} · {rows} photos indexed"),
        }
    }
}

/// Every string the page shows, in one language.
pub struct Texts {
    pub tagline: &'static str,
    pub poem_label: &'static str,
    pub poem_placeholder: &'static str,
    pub search: &'static str,
    pub examples: &'static str,
    pub syntax_hint: &'static str,
    pub combine_picture: &'static str,
    pub combine_photo: &'static str,
    pub upload: &'static str,
    pub drop_hint: &'static str,
    pub uploading: &'static str,
    pub searching: &'static str,
    pub no_results: &'static str,
    pub no_results_hint: &'static str,
    pub empty_collection: &'static str,
    pub fixture_warning: &'static str,
    pub truncated: &'static str,
    pub show_all: &'static str,
    pub show_best: &'static str,
    pub query_picture: &'static str,
    pub like_photo: &'static str,
    pub combined: &'static str,
    pub share: &'static str,
    pub copied: &'static str,
    pub more_like_this: &'static str,
    pub open_original: &'static str,
    pub close: &'static str,
    pub previous: &'static str,
    pub next: &'static str,
    pub similarity: &'static str,
    pub error_title: &'static str,
    pub retry: &'static str,
    pub switch_to: &'static str,
    pub not_found: &'static str,
    pub busy_title: &'static str,
    pub load_more: &'static str,
    pub loading_more: &'static str,
    pub next_page: &'static str,
    pub prev_page: &'static str,
    pub first_page: &'static str,
    pub last_page: &'static str,
    pub end_of_results: &'static str,
    pub page_empty: &'static str,
    pub pages: &'static str,
    pub filters: &'static str,
    pub filter_in: &'static str,
    pub filter_in_placeholder: &'static str,
    pub filter_from: &'static str,
    pub filter_to: &'static str,
    pub filter_date_placeholder: &'static str,
    pub filter_date_title: &'static str,
    pub filter_orient: &'static str,
    pub orient_any: &'static str,
    pub orient_landscape: &'static str,
    pub orient_portrait: &'static str,
    pub orient_square: &'static str,
    pub clear_filters: &'static str,
    pub indexing_label: &'static str,
}

static ZH: Texts = Texts {
    tagline: "以诗搜图 · 以图搜图",
    poem_label: "诗句",
    poem_placeholder: "输入一句诗，例如：枯藤老树昏鸦",
    search: "搜索",
    examples: "示例",
    syntax_hint: "可组合：夕阳 - 城市，2*大海 + 夕阳",
    combine_picture: "与上方图片组合",
    combine_photo: "与上方照片组合",
    upload: "以图搜图",
    drop_hint: "选择、拖入或粘贴一张图片",
    uploading: "正在上传图片…",
    searching: "正在寻找…",
    no_results: "没有找到照片。",
    no_results_hint: "换一句诗试试：",
    empty_collection: "还没有索引任何照片。运行 shihua index <文件夹> 来添加照片。",
    fixture_warning: "演示模式：当前使用随机权重的测试模型，结果没有意义。请按 README 提供 Chinese-CLIP 模型文件。",
    truncated: "诗句过长，只用了前 52 个字词。",
    show_all: "显示全部",
    show_best: "只显示最相似的",
    query_picture: "以此图搜索",
    like_photo: "与此照片相似",
    combined: "组合查询",
    share: "分享",
    copied: "链接已复制",
    more_like_this: "相似照片",
    open_original: "查看原图",
    close: "关闭",
    previous: "上一张",
    next: "下一张",
    similarity: "相似度",
    error_title: "搜索没有完成",
    retry: "重试",
    switch_to: "English",
    not_found: "页面不存在",
    busy_title: "现在搜图的人很多",
    load_more: "加载更多",
    loading_more: "正在加载…",
    next_page: "下一页",
    prev_page: "上一页",
    first_page: "回到第一页",
    last_page: "最后一页",
    end_of_results: "没有更多照片了",
    page_empty: "这一页没有照片：这次搜索的结果没有这么多。",
    pages: "翻页",
    filters: "筛选",
    filter_in: "文件夹",
    filter_in_placeholder: "全部文件夹",
    filter_from: "从",
    filter_to: "到",
    filter_date_placeholder: "年-月-日",
    filter_date_title: "拍摄日期：YYYY、YYYY-MM 或 YYYY-MM-DD",
    filter_orient: "方向",
    orient_any: "任意方向",
    orient_landscape: "横幅",
    orient_portrait: "竖幅",
    orient_square: "方形",
    clear_filters: "清除筛选",
    indexing_label: "索引进度",
};

static EN: Texts = Texts {
    tagline: "Search your photos with a line of poetry, or with a picture",
    poem_label: "A line of poetry",
    poem_placeholder: "Type a line of poetry, e.g. 枯藤老树昏鸦",
    search: "Search",
    examples: "Examples",
    syntax_hint: "Combine: 夕阳 - 城市, 2*大海 + 夕阳",
    combine_picture: "Combine with the picture above",
    combine_photo: "Combine with the photo above",
    upload: "Search with a picture",
    drop_hint: "Choose, drop or paste a picture",
    uploading: "Uploading the picture…",
    searching: "Searching…",
    no_results: "No photos found.",
    no_results_hint: "Try another line:",
    empty_collection: "No photos indexed yet. Run shihua index <folder> to add some.",
    fixture_warning: "Demo mode: the random-weight fixture model is answering, so results are NOT meaningful. Supply the Chinese-CLIP model files (see README).",
    truncated: "The text was cut to the model's 52 tokens.",
    show_all: "Show all",
    show_best: "Show only the closest",
    query_picture: "Searching with this picture",
    like_photo: "Photos like this one",
    combined: "Combined query",
    share: "Share",
    copied: "Link copied",
    more_like_this: "More like this",
    open_original: "Open original",
    close: "Close",
    previous: "Previous",
    next: "Next",
    similarity: "similarity",
    error_title: "The search did not finish",
    retry: "Try again",
    switch_to: "中文",
    not_found: "Page not found",
    busy_title: "Many people are searching with pictures right now",
    load_more: "Load more",
    loading_more: "Loading…",
    next_page: "Next page",
    prev_page: "Previous page",
    first_page: "Back to the first page",
    last_page: "Last page",
    end_of_results: "No more photos",
    page_empty: "No photos on this page: this search has fewer results.",
    pages: "Pages",
    filters: "Filters",
    filter_in: "Folder",
    filter_in_placeholder: "all folders",
    filter_from: "From",
    filter_to: "To",
    filter_date_placeholder: "YYYY-MM-DD",
    filter_date_title: "Date taken: YYYY, YYYY-MM or YYYY-MM-DD",
    filter_orient: "Orientation",
    orient_any: "any orientation",
    orient_landscape: "landscape",
    orient_portrait: "portrait",
    orient_square: "square",
    clear_filters: "Clear filters",
    indexing_label: "Indexing progress",
};

/// The language signal every component reads.
pub fn use_lang() -> RwSignal<Lang> {
    use_context::<RwSignal<Lang>>().unwrap_or_else(|| RwSignal::new(Lang::default()))
}

/// The language for this request, on the server: `?lang=`, then the cookie, then
/// `Accept-Language`. A `?lang=` choice is remembered in the cookie.
#[cfg(feature = "ssr")]
pub fn request_lang() -> Lang {
    let Some(parts) = use_context::<http::request::Parts>() else {
        return Lang::default();
    };
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .and_then(Lang::parse)
    });
    if let Some(lang) = from_query {
        remember(lang);
        return lang;
    }
    let from_cookie = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("lang="))
        .and_then(Lang::parse);
    if let Some(lang) = from_cookie {
        return lang;
    }
    parts
        .headers
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default()
}

#[cfg(feature = "ssr")]
fn remember(lang: Lang) {
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(v) = http::HeaderValue::from_str(&cookie_value(lang)) {
            opts.append_header(http::header::SET_COOKIE, v);
        }
    }
}

/// The cookie that remembers a language for a year.
pub fn cookie_value(lang: Lang) -> String {
    format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.short()
    )
}

/// The language the server rendered, read back from `<html lang>` when the client starts.
#[cfg(not(feature = "ssr"))]
pub fn document_lang() -> Lang {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
        .and_then(|e| e.get_attribute("lang"))
        .and_then(|l| Lang::parse(&l))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("fr-FR, en;q=0.5, zh-CN;q=0.8"),
            Lang::Zh
        );
        assert_eq!(Lang::from_accept_language("de-DE"), Lang::Zh);
        assert_eq!(Lang::from_accept_language(""), Lang::Zh);
        assert_eq!(Lang::from_accept_language("zh-TW;q=0, en"), Lang::En);
    }

    #[test]
    fn codes_parse() {
        assert_eq!(Lang::parse("zh-Hant"), Some(Lang::Zh));
        assert_eq!(Lang::parse("EN_gb"), Some(Lang::En));
        assert_eq!(Lang::parse("ja"), None);
    }
}

// ---- Poems (以图寻诗, 以诗配图; app/src/poems.rs and its components) -------------------------

/// The poem features' strings, one table per language.
pub struct PoemTexts {
    pub panel_title: &'static str,
    pub panel_hint: &'static str,
    pub panel_empty: &'static str,
    pub whole_poem: &'static str,
    pub whole_poem_label: &'static str,
    pub whole_poem_placeholder: &'static str,
    pub make_storyboard: &'static str,
    pub storyboard_title: &'static str,
    pub another_photo: &'static str,
    pub no_photo: &'static str,
    pub truncated: &'static str,
    pub pick_by_title: &'static str,
    pub title_placeholder: &'static str,
    pub find_title: &'static str,
    pub no_title: &'static str,
    pub search_line: &'static str,
    pub save_picture: &'static str,
    pub more_examples: &'static str,
    pub suggestions: &'static str,
}

const POEM_ZH: PoemTexts = PoemTexts {
    panel_title: "这张照片像哪句诗",
    panel_hint: "点一句诗，用它搜照片",
    panel_empty: "诗句库尚未建立：运行 shihua poems index",
    whole_poem: "整首诗配图",
    whole_poem_label: "粘贴一整首诗",
    whole_poem_placeholder: "枯藤老树昏鸦，小桥流水人家，古道西风瘦马……",
    make_storyboard: "配图",
    storyboard_title: "以诗配图",
    another_photo: "换一张",
    no_photo: "照片不够，这一句没有配图",
    truncated: "诗太长，只配了前 40 句",
    pick_by_title: "或按诗题选一首",
    title_placeholder: "诗题，如 静夜思",
    find_title: "找诗",
    no_title: "诗库里没有这个诗题",
    search_line: "用这句诗搜照片",
    save_picture: "保存图片",
    more_examples: "换一批",
    suggestions: "诗句建议",
};

const POEM_EN: PoemTexts = PoemTexts {
    panel_title: "Which line of poetry is this photo like?",
    panel_hint: "Tap a line to search photos with it",
    panel_empty: "The poem lines are not indexed yet: run shihua poems index",
    whole_poem: "Illustrate a whole poem",
    whole_poem_label: "Paste a whole poem",
    whole_poem_placeholder: "枯藤老树昏鸦，小桥流水人家，古道西风瘦马……",
    make_storyboard: "Illustrate",
    storyboard_title: "A photo for every line",
    another_photo: "Another photo",
    no_photo: "Not enough photos: this line has none",
    truncated: "The poem is long: only its first 40 lines are illustrated",
    pick_by_title: "or pick a poem by its title",
    title_placeholder: "A title, e.g. 静夜思",
    find_title: "Find",
    no_title: "No poem with that title in the corpus",
    search_line: "Search photos with this line",
    save_picture: "Save as a picture",
    more_examples: "Other examples",
    suggestions: "Suggested lines",
};

impl Lang {
    /// The poem features' strings.
    pub fn poem_t(self) -> &'static PoemTexts {
        match self {
            Lang::Zh => &POEM_ZH,
            Lang::En => &POEM_EN,
        }
    }
}

// ---- Duplicates (copies and near-identical photos folded under a result; gallery, lightbox) ----

impl Lang {
    /// "also in …" before the folders of a result's other copies.
    pub fn also_in(self) -> &'static str {
        match self {
            Lang::Zh => "另见于：",
            Lang::En => "also in: ",
        }
    }

    /// The badge's title: how many near-identical photos are folded under a result.
    pub fn folded_line(self, n: usize) -> String {
        match self {
            Lang::Zh => format!("还有 {n} 张几乎相同的照片，点击展开"),
            Lang::En => format!("{n} near-identical photos folded here: click to show them"),
        }
    }

    /// The badge's title once they are shown.
    pub fn fold_again(self) -> &'static str {
        match self {
            Lang::Zh => "收起几乎相同的照片",
            Lang::En => "Fold the near-identical photos again",
        }
    }

    /// The mark on a card shown because its result was expanded.
    pub fn folded_under(self) -> &'static str {
        match self {
            Lang::Zh => "几乎相同",
            Lang::En => "near-identical",
        }
    }
}
