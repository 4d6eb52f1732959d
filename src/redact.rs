//! Keep secrets out of results, logs and reports.

/// A URL with any `user:password@` and `jwt`/`token` query or fragment values replaced by `***`.
pub fn url(text: &str) -> String {
    let Ok(mut u) = url::Url::parse(text) else {
        return text.to_string();
    };
    if !u.username().is_empty() {
        let _ = u.set_username("***");
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    let mut s = u.to_string();
    for key in ["jwt=", "token="] {
        let mut from = 0;
        while let Some(pos) = s[from..].find(key) {
            let start = from + pos + key.len();
            let before = s[..from + pos].chars().last();
            if !matches!(before, Some('?') | Some('&') | Some('#')) {
                from = start;
                continue;
            }
            let end = s[start..].find(['&', '#']).map_or(s.len(), |e| start + e);
            s.replace_range(start..end, "***");
            from = start + 3;
        }
    }
    s
}

/// Mask anything that looks like a token in free text (console logs can echo URLs).
pub fn text(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|w| {
            if w.contains("jwt=") || w.contains("token=") {
                url(w.trim_end()) + &w[w.trim_end().len()..]
            } else {
                w.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn console_logs_lose_tokens() {
        assert_eq!(
            super::text("GET https://m/x?jwt=abc done"),
            "GET https://m/x?jwt=*** done"
        );
    }

    #[test]
    fn credentials_and_tokens_are_hidden() {
        assert_eq!(
            super::url("http://u:p@h:4444/wd/hub"),
            "http://***:***@h:4444/wd/hub"
        );
        assert_eq!(
            super::url("https://m.example/room?jwt=abc.def&x=1#jwt=%22abc%22&config.a=1"),
            "https://m.example/room?jwt=***&x=1#jwt=***&config.a=1"
        );
        assert_eq!(
            super::url("https://m.example/myjwt=1"),
            "https://m.example/myjwt=1"
        );
    }
}
