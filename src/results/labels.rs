//! Label sets as written in `server_metrics.csv`: `key=value` pairs joined by `;`, sorted by key.

use std::collections::BTreeMap;

/// Format a label map.
pub fn format(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace([';', '\n'], "_")))
        .collect::<Vec<_>>()
        .join(";")
}

/// Parse a label string back into a map.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Build a label map from pairs.
pub fn of<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let m = super::of([("pod", "jvb-0".to_string()), ("a", "x;y".to_string())]);
        assert_eq!(super::format(&m), "a=x_y;pod=jvb-0");
        assert_eq!(
            super::parse("a=x_y;pod=jvb-0"),
            m.into_iter()
                .map(|(k, v)| (k, v.replace(';', "_")))
                .collect()
        );
    }
}
