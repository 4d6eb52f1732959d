//! Hourly cost before apply, from `terraform/prices.toml` (a documented table the user edits).

use std::path::Path;

use serde::Deserialize;

use super::ProvisionError;

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
    pub usd_per_hour_by_region: std::collections::BTreeMap<String, f64>,
    /// Date of the price.
    #[serde(default)]
    pub as_of: Option<String>,
    /// Where it comes from.
    #[serde(default)]
    pub source: Option<String>,
}

/// `provider -> type -> row`.
pub type Prices = std::collections::BTreeMap<String, std::collections::BTreeMap<String, Price>>;

/// Read the table.
pub fn load(path: &Path) -> Result<Prices, ProvisionError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ProvisionError::Config(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| ProvisionError::Config(format!("{}: {e}", path.display())))
}

/// The estimate printed before apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Price per server-hour and its currency, if the table has one.
    pub per_server: Option<(f64, &'static str)>,
    /// Cores per server, if the type is in the table.
    pub cores: Option<u32>,
    /// The line to print.
    pub text: String,
}

/// Cost of `servers` servers of `server_type` in `region`.
pub fn estimate(
    prices: &Prices,
    provider: &str,
    server_type: &str,
    region: &str,
    servers: u32,
) -> Estimate {
    let Some(row) = prices.get(provider).and_then(|p| p.get(server_type)) else {
        return Estimate {
            per_server: None,
            cores: None,
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
    let text = match price {
        Some((p, cur)) => format!(
            "cost: {servers} × {provider} {server_type} ({} cores, {} GiB) at {cur} {p:.4}/h = {cur} {:.2}/h, {cur} {:.2} per 8-hour day (list price as of {}, excl. VAT, traffic and addresses; check it: terraform/prices.toml)",
            row.cores,
            row.ram_gb,
            p * f64::from(servers),
            p * f64::from(servers) * 8.0,
            row.as_of.as_deref().unwrap_or("unknown"),
        ),
        None => format!(
            "cost: {servers} × {provider} {server_type} ({} cores, {} GiB): price unknown (no price in terraform/prices.toml; fill it in from your price list)",
            row.cores, row.ram_gb
        ),
    };
    Estimate {
        per_server: price,
        cores: Some(row.cores),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_from_the_repository_table() {
        let prices = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform/prices.toml"))
            .expect("prices.toml parses");
        let e = estimate(&prices, "hetzner", "cx43", "fsn1", 10);
        assert_eq!(e.per_server, Some((0.0152, "EUR")));
        assert!(e.text.contains("EUR 0.15/h"), "{}", e.text);
        let e = estimate(&prices, "aws", "c6i.2xlarge", "eu-central-1", 2);
        assert_eq!(e.per_server, Some((0.388, "USD")));
        let e = estimate(&prices, "aws", "c6i.2xlarge", "ap-south-1", 2);
        assert_eq!(e.per_server, Some((0.34, "USD")));
        let e = estimate(&prices, "ionos", "4c-8g", "de/fra", 2);
        assert_eq!(e.per_server, None);
        assert_eq!(e.cores, Some(4));
        assert!(e.text.contains("price unknown"));
        let e = estimate(&prices, "hetzner", "cx999", "fsn1", 1);
        assert!(e.text.contains("not in terraform/prices.toml"));
    }
}
