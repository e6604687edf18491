//! The poem box: a GET form on `/` (so it works before hydration and gives a shareable URL),
//! Enter submits and Shift+Enter adds a line, plus one-tap example lines from 天净沙·秋思.

use leptos::prelude::*;
use leptos_router::components::Form;

/// Lines of 马致远《天净沙·秋思》, the reference article's examples.
pub const EXAMPLES: [&str; 5] = [
    "枯藤老树昏鸦",
    "小桥流水人家",
    "古道西风瘦马",
    "夕阳西下",
    "断肠人在天涯",
];

#[component]
pub fn PoemBox(
    /// The query currently in the URL.
    value: Memo<String>,
) -> impl IntoView {
    let on_keydown = move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            let textarea: web_sys::HtmlTextAreaElement = event_target(&ev);
            if let Some(form) = textarea.form() {
                let _ = form.request_submit();
            }
        }
    };

    view! {
        <div class="poem-form" data-testid="poem-form">
            <Form method="GET" action="/">
                <label class="visually-hidden" for="poem-input">
                    "诗句 · a line of poetry"
                </label>
                <textarea
                    id="poem-input"
                    name="q"
                    rows="2"
                    maxlength="2000"
                    placeholder="输入一句诗，例如：枯藤老树昏鸦"
                    data-testid="poem-input"
                    prop:value=move || value.get()
                    on:keydown=on_keydown
                >
                    // Rendered verbatim inside <textarea> (raw text): escape it here, or a
                    // query containing "</textarea>" would break out of the element.
                    {escape_text(&value.get_untracked())}
                </textarea>
                <button type="submit" data-testid="poem-submit">
                    "搜索 · Search"
                </button>
            </Form>
            <nav class="examples" aria-label="示例 · examples">
                {EXAMPLES
                    .iter()
                    .map(|line| {
                        let href = format!("/?q={line}");
                        view! {
                            <a class="chip" href=href>
                                {*line}
                            </a>
                        }
                    })
                    .collect_view()}
            </nav>
        </div>
    }
}

/// HTML-escape text that is written into the page without escaping.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
