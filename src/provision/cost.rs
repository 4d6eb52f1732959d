//! Hourly cost before apply, from `terraform/prices.toml` (a documented table the user edits). Every
//! price carries its date and source; a price older than [`MAX_AGE_DAYS`], or older than a price
//! change the table records for its provider, is flagged STALE in the cost line.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use super::ProvisionError;

/// A price older than this many days is flagged stale.
pub const MAX_AGE_DAYS: i64 = 180;

/// One server type's row.
#[derive(Debug, Clone, Deserialize)]
pub struct Price {
    /// vCPUs / cores.
    pub cores: u32,
    /// Memory, GiB.
    pub ram_gb: u32,
    /// EUR per server-hour (Hetzner, IONOS).
    #[serde(default)]
    pub eur_per_hour: Option<f64>,
    /// USD per server-hour (AWS, us-east-1 unless by region).
    #[serde(default)]
    pub usd_per_hour: Option<f64>,
    /// USD per server-hour by AWS region.
    #[serde(default)]
    pub usd_per_hour_by_region: BTreeMap<String, f64>,
    /// Date of the price (`YYYY-MM-DD`).
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
    /// Where it comes from.
    #[serde(default)]
    pub source: Option<String>,
}

impl Price {
    fn has_price(&self) -> bool {
        self.eur_per_hour.is_some()
            || self.usd_per_hour.is_some()
            || !self.usd_per_hour_by_region.is_empty()
    }
}

/// The whole table: `provider -> type -> row`, and the dates providers changed their prices.
#[derive(Debug, Clone, Deserialize)]
pub struct Prices {
    /// `[price_changes]`: provider -> dates on which its list prices changed.
    #[serde(default)]
    pub price_changes: BTreeMap<String, Vec<NaiveDate>>,
    /// `[<provider>."<type>"]` rows.
    #[serde(flatten)]
    pub providers: BTreeMap<String, BTreeMap<String, Price>>,
}

/// Read the table; a row with a price but without its date or source is refused.
pub fn load(path: &Path) -> Result<Prices, ProvisionError> {
    let bad = |m: String| ProvisionError::Config(format!("{}: {m}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let prices: Prices = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    for (provider, rows) in &prices.providers {
        for (kind, row) in rows {
            if row.has_price() && (row.as_of.is_none() || row.source.is_none()) {
                return Err(bad(format!(
                    "[{provider}.\"{kind}\"] has a price but no as_of date or no source (every price says when and where it was read)"
                )));
            }
        }
    }
    Ok(prices)
}

/// The estimate printed before apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Price per server-hour and its currency, if the table has one.
    pub per_server: Option<(f64, &'static str)>,
    /// Cores per server, if the type is in the table.
    pub cores: Option<u32>,
    /// Why the price is stale, if it is.
    pub stale: Option<String>,
    /// The line to print.
    pub text: String,
}

/// Why a price of `provider` dated `as_of` is stale on `today`, if it is.
pub fn staleness(
    prices: &Prices,
    provider: &str,
    as_of: NaiveDate,
    today: NaiveDate,
) -> Option<String> {
    let change = prices
        .price_changes
        .get(provider)
        .into_iter()
        .flatten()
        .filter(|d| **d > as_of && **d <= today)
        .max();
    if let Some(d) = change {
        return Some(format!("it predates {provider}'s price change of {d}"));
    }
    let age = (today - as_of).num_days();
    (age > MAX_AGE_DAYS).then(|| format!("it is {age} days old"))
}

/// Cost of `servers` servers of `server_type` in `region`, judged on `today`.
pub fn estimate(
    prices: &Prices,
    provider: &str,
    server_type: &str,
    region: &str,
    servers: u32,
    today: NaiveDate,
) -> Estimate {
    let Some(row) = prices
        .providers
        .get(provider)
        .and_then(|p| p.get(server_type))
    else {
        return Estimate {
            per_server: None,
            cores: None,
            stale: None,
            text: format!(
                "cost: {servers} × {provider} {server_type}: price unknown ({server_type} is not in terraform/prices.toml; add it there)"
            ),
        };
    };
    let price = match provider {
        "aws" => row
            .usd_per_hour_by_region
            .get(region)
            .copied()
            .or(row.usd_per_hour)
            .map(|p| (p, "USD")),
        _ => row.eur_per_hour.map(|p| (p, "EUR")),
    };
    let (Some((p, cur)), Some(as_of)) = (price, row.as_of) else {
        return Estimate {
            per_server: None,
            cores: Some(row.cores),
            stale: None,
            text: format!(
                "cost: {servers} × {provider} {server_type} ({} cores, {} GiB): price unknown (no price in terraform/prices.toml; fill it in from your price list)",
                row.cores, row.ram_gb
            ),
        };
    };
    let stale = staleness(prices, provider, as_of, today);
    let source = crate::util::text::one_line(row.source.as_deref().unwrap_or("?"), 100);
    let flag = stale.as_ref().map_or(String::new(), |why| {
        format!(" STALE: {why}; check the current price and update terraform/prices.toml.")
    });
    let text = format!(
        "cost: {servers} × {provider} {server_type} ({} cores, {} GiB) at {cur} {p:.4}/h = {cur} {:.2}/h, {cur} {:.2} per 8-hour day (list price as of {as_of}, source: {source}; excl. VAT, traffic and addresses).{flag}",
        row.cores,
        row.ram_gb,
        p * f64::from(servers),
        p * f64::from(servers) * 8.0,
    );
    Estimate {
        per_server: Some((p, cur)),
        cores: Some(row.cores),
        stale,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn repository_table() -> Prices {
        load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform/prices.toml"))
            .expect("prices.toml parses")
    }

    #[test]
    fn estimates_from_the_repository_table() {
        let prices = repository_table();
        let today = day("2026-11-30");
        let e = estimate(&prices, "hetzner", "cx43", "fsn1", 10, today);
        assert_eq!(e.per_server, Some((0.0256, "EUR")));
        assert!(e.text.contains("EUR 0.26/h"), "{}", e.text);
        assert!(e.text.contains("as of 2026-08-07, source: "), "{}", e.text);
        assert_eq!(e.stale, None, "{}", e.text);
        let e = estimate(&prices, "aws", "c6i.2xlarge", "eu-central-1", 2, today);
        assert_eq!(e.per_server, Some((0.388, "USD")));
        let e = estimate(&prices, "aws", "c6i.2xlarge", "ap-south-1", 2, today);
        assert_eq!(e.per_server, Some((0.34, "USD")));
        let e = estimate(&prices, "ionos", "4c-8g", "de/fra", 2, today);
        assert_eq!(e.per_server, None);
        assert_eq!(e.cores, Some(4));
        assert!(e.text.contains("price unknown"));
        let e = estimate(&prices, "hetzner", "cx999", "fsn1", 1, today);
        assert!(e.text.contains("not in terraform/prices.toml"));
    }

    #[test]
    fn stale_prices_are_flagged_in_the_cost_line() {
        let prices = repository_table();
        // ccx43's price was read before Hetzner's 2026 price changes.
        let e = estimate(&prices, "hetzner", "ccx43", "fsn1", 1, day("2026-11-30"));
        let why = e.stale.clone().expect("flagged");
        assert!(why.contains("price change of 2026-06-15"), "{why}");
        assert!(
            e.text.contains("STALE: it predates hetzner's price change"),
            "{}",
            e.text
        );
        // Fresh on its date, stale once a change is recorded after it, or when old.
        let cx43 = day("2026-08-07");
        assert_eq!(staleness(&prices, "hetzner", cx43, day("2026-09-01")), None);
        let old = staleness(&prices, "hetzner", cx43, day("2027-03-01")).unwrap();
        assert!(old.contains("206 days old"), "{old}");
        assert!(staleness(&prices, "aws", day("2026-11-24"), day("2026-12-01")).is_none());
    }

    #[test]
    fn a_price_without_date_or_source_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prices.toml");
        std::fs::write(
            &p,
            "[hetzner.cx43]\ncores = 8\nram_gb = 16\neur_per_hour = 0.02\nas_of = \"2026-08-07\"\n",
        )
        .unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(
            e.contains("[hetzner.\"cx43\"]") && e.contains("no source"),
            "{e}"
        );
        std::fs::write(&p, "[hetzner.cx43]\ncores = 8\nram_gb = 16\n").unwrap();
        assert!(load(&p).is_ok(), "a row without a price needs neither");
    }
}
