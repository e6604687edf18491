//! HTML escaping, for text written into a page without the view's own escaping: the raw
//! text inside a `<textarea>` and the server's plain pages (the script-free upload form's
//! errors, the busy page).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape_text("</textarea><b a='1' b=\"2\">&"),
            "&lt;/textarea&gt;&lt;b a=&#39;1&#39; b=&quot;2&quot;&gt;&amp;"
        );
        assert_eq!(escape_text("夕阳西下"), "夕阳西下");
    }
}
