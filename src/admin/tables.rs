//! Human-readable output of `bascule admin` (tables and key: value lines); `--json` prints
//! the API's JSON instead, for scripts.

use serde_json::Value;

/// Columns aligned on the widest cell, headers first.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn field(v: &Value, name: &str) -> String {
    match &v[name] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        other => other.to_string(),
    }
}

fn rows(v: &Value, fields: &[&str]) -> Vec<Vec<String>> {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| fields.iter().map(|f| field(item, f)).collect())
                .collect()
        })
        .unwrap_or_default()
}

pub fn users(v: &Value) -> String {
    table(
        &["NAME", "ID", "ADMIN", "ENABLED"],
        &rows(v, &["name", "id", "admin", "enabled"]),
    )
}

pub fn kms_keys(v: &Value) -> String {
    let mut rows = rows(v, &["id", "enabled", "active_version", "zone_key"]);
    // Each version with the stored segments it still wraps (`1:0 2:15`).
    let uses = v.as_array().into_iter().flatten().map(|k| {
        k["segments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| format!("{}:{}", field(u, "version"), field(u, "segments")))
            .collect::<Vec<_>>()
            .join(" ")
    });
    for (row, u) in rows.iter_mut().zip(uses) {
        row.push(u);
    }
    table(
        &[
            "KEY",
            "ENABLED",
            "ACTIVE VERSION",
            "ZONE KEY",
            "SEGMENTS BY VERSION",
        ],
        &rows,
    )
}

pub fn keys(v: &Value) -> String {
    table(
        &["ACCESS KEY", "USER ID", "ENABLED"],
        &rows(v, &["access_key", "user_id", "enabled"]),
    )
}

pub fn buckets(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|b| {
                    let grants = b["grants"]
                        .as_object()
                        .map(|g| g.len().to_string())
                        .unwrap_or_else(|| "0".into());
                    let owner = match b["owner_name"].as_str() {
                        Some(name) => name.to_string(),
                        None => field(b, "owner"),
                    };
                    vec![
                        field(b, "name"),
                        owner,
                        field(b, "objects"),
                        field(b, "bytes"),
                        grants,
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    table(&["BUCKET", "OWNER", "OBJECTS", "BYTES", "GRANTS"], &rows)
}

/// One record as `key: value` lines; a new key's secret comes with its warning.
pub fn record(v: &Value) -> String {
    let Some(map) = v.as_object() else {
        return format!("{v}\n");
    };
    let width = map.keys().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (k, _) in map {
        out.push_str(&format!(
            "{:<width$}  {}\n",
            format!("{k}:"),
            field(v, k),
            width = width + 1
        ));
    }
    if map.contains_key("secret_key") {
        out.push_str("The secret is shown only now: store it safely.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(
            &["NAME", "ADMIN"],
            &[
                vec!["alice".into(), "yes".into()],
                vec!["b".into(), "no".into()],
            ],
        );
        assert_eq!(t, "NAME   ADMIN\nalice  yes\nb      no\n");
        let u =
            users(&serde_json::json!([{"name": "a", "id": "x", "admin": true, "enabled": false}]));
        assert!(u.contains("a     x   yes    no"), "{u}");
        let k = record(&serde_json::json!({"access_key": "AK", "secret_key": "S"}));
        assert!(
            k.contains("secret_key:  S") && k.contains("shown only now"),
            "{k}"
        );
    }
}
