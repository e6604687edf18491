//! The one line splitter: a poem (a corpus poem or one pasted whole) → its lines.
//!
//! A line is a clause between the breaks `。！？；，、`, their ASCII equivalents `. ! ? ; ,`,
//! and line breaks. Nothing else cuts a line: a seven-character line (or any clause, however
//! long) stays whole. Each line is kept without punctuation (quotes, brackets, `·`, …), with
//! runs of spaces made one space, so `《静夜思》` is `静夜思` and `Hello, world` is two lines;
//! parts left empty are dropped. The corpus is split with [`split_lines`]; a poem pasted for a
//! storyboard with [`split_poem`], which keeps at most [`MAX_POEM_LINES`].

/// Most lines a pasted poem is split into (a storyboard has one photo per line).
pub const MAX_POEM_LINES: usize = 40;

/// True for the characters that end a line.
fn is_break(c: char) -> bool {
    matches!(
        c,
        '。' | '！' | '？' | '；' | '，' | '、' | '.' | '!' | '?' | ';' | ',' | '\n' | '\r'
    ) || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}' | '\u{b}' | '\u{c}')
}

/// Punctuation dropped from inside a line (it carries no imagery and is not embedded).
fn is_dropped(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '“' | '”'
                | '‘'
                | '’'
                | '「'
                | '」'
                | '『'
                | '』'
                | '《'
                | '》'
                | '〈'
                | '〉'
                | '（'
                | '）'
                | '【'
                | '】'
                | '〔'
                | '〕'
                | '［'
                | '］'
                | '：'
                | '·'
                | '・'
                | '—'
                | '–'
                | '…'
                | '～'
                | '〜'
                | '＂'
                | '＇'
                | '﹏'
                | '。'
        )
}

/// One clause as it is shown and embedded: punctuation dropped, whitespace runs made one
/// ASCII space, trimmed.
pub fn clean_line(clause: &str) -> String {
    let mut out = String::with_capacity(clause.len());
    let mut space = false;
    for c in clause.chars() {
        if is_dropped(c) || c.is_control() {
            continue;
        }
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// Every line of `text`, in order, empty ones dropped.
pub fn split_lines(text: &str) -> Vec<String> {
    text.split(is_break)
        .map(clean_line)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The lines of a pasted poem, at most [`MAX_POEM_LINES`], and whether there were more.
pub fn split_poem(text: &str) -> (Vec<String>, bool) {
    let mut lines = split_lines(text);
    let truncated = lines.len() > MAX_POEM_LINES;
    lines.truncate(MAX_POEM_LINES);
    (lines, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_punctuation_ends_lines() {
        assert_eq!(
            split_lines("枯藤老树昏鸦，小桥流水人家，古道西风瘦马。夕阳西下，断肠人在天涯。"),
            [
                "枯藤老树昏鸦",
                "小桥流水人家",
                "古道西风瘦马",
                "夕阳西下",
                "断肠人在天涯"
            ]
        );
        assert_eq!(
            split_lines("谁知盘中餐？粒粒皆辛苦！山、水；云"),
            ["谁知盘中餐", "粒粒皆辛苦", "山", "水", "云"]
        );
    }

    #[test]
    fn ascii_punctuation_and_line_breaks_end_lines() {
        assert_eq!(
            split_lines("床前明月光,疑是地上霜.\r\n举头望明月!低头思故乡?\n\n\n"),
            ["床前明月光", "疑是地上霜", "举头望明月", "低头思故乡"]
        );
        assert_eq!(split_lines("a;b\rc"), ["a", "b", "c"]);
    }

    #[test]
    fn seven_character_lines_are_never_cut() {
        let poem = "两个黄鹂鸣翠柳 一行白鹭上青天\n窗含西岭千秋雪，门泊东吴万里船。";
        let lines = split_lines(poem);
        assert_eq!(
            lines,
            [
                "两个黄鹂鸣翠柳 一行白鹭上青天",
                "窗含西岭千秋雪",
                "门泊东吴万里船"
            ]
        );
        // A long clause stays whole too.
        let long = "山".repeat(200);
        assert_eq!(split_lines(&long), std::slice::from_ref(&long));
    }

    #[test]
    fn empty_parts_and_punctuation_inside_lines_are_dropped() {
        assert_eq!(split_lines(""), Vec::<String>::new());
        assert_eq!(split_lines("，，。\n \n、！"), Vec::<String>::new());
        assert_eq!(
            split_lines("  《静夜思》  \n\n“床前明月光”"),
            ["静夜思", "床前明月光"]
        );
        assert_eq!(split_lines("[1]天净沙·秋思"), ["1天净沙秋思"]);
        assert_eq!(split_lines("　　夕阳　西下　"), ["夕阳 西下"]);
    }

    #[test]
    fn mixed_scripts() {
        assert_eq!(
            split_lines("Hello,  world! 春眠不觉晓 (Meng Haoran)，处处闻啼鸟"),
            ["Hello", "world", "春眠不觉晓 Meng Haoran", "处处闻啼鸟"]
        );
        assert_eq!(
            split_lines("夜来风雨声、flowers fall…"),
            ["夜来风雨声", "flowers fall"]
        );
        // Emoji and other scripts are kept as they are.
        assert_eq!(split_lines("月🌙光；Луна"), ["月🌙光", "Луна"]);
    }

    #[test]
    fn a_pasted_poem_keeps_at_most_forty_lines() {
        let poem: String = (0..45).map(|i| format!("第{i}行，")).collect();
        let (lines, truncated) = split_poem(&poem);
        assert_eq!(lines.len(), MAX_POEM_LINES);
        assert!(truncated);
        assert_eq!(lines[39], "第39行");
        let (lines, truncated) = split_poem("一，二");
        assert_eq!((lines.len(), truncated), (2, false));
    }
}
