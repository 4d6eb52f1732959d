//! Text for one-line messages: failure reasons, events, CSV cells.

/// The first line of `s`, cut to at most `max` characters (not bytes: any UTF-8 text is safe), with
/// `…` when cut.
pub fn one_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or_default();
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn cuts_by_characters_not_bytes() {
        assert_eq!(one_line("short\nsecond", 300), "short");
        // A multi-byte character straddling byte 300 used to panic (`&line[..300]`).
        let s = format!("{}é{}", "a".repeat(299), "b".repeat(10));
        let cut = one_line(&s, 300);
        assert_eq!(cut.chars().count(), 301);
        assert!(cut.ends_with("é…"));
        let wide = "日本語のエラー".repeat(100);
        assert_eq!(one_line(&wide, 5), "日本語のエ…");
    }
}
