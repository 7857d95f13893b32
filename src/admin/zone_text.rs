//! Human-readable renderings of the zone documents for `bascule admin zone ...`.

use serde_json::Value;

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("-")
}

pub fn status(v: &Value) -> String {
    let mut out = String::new();
    let fenced = if v.get("fenced").and_then(Value::as_bool) == Some(true) {
        " (fenced: not taking writes)"
    } else {
        ""
    };
    out += &format!("role:              {}{fenced}\n", text(v, "role"));
    out += &format!("epoch:             {}\n", num(v, "epoch"));
    match v.get("peer").and_then(Value::as_str) {
        Some(peer) => {
            out += &format!(
                "peer:              {peer} ({})\n",
                if v.get("peer_reachable").and_then(Value::as_bool) == Some(true) {
                    "reachable"
                } else {
                    "unreachable"
                }
            )
        }
        None => out += "peer:              none (a standalone zone)\n",
    }
    out += &format!("cursor (last seq): {}\n", num(v, "last_seq"));
    out += &format!("primary last seq:  {}\n", num(v, "primary_last_seq"));
    out += &format!("entries pending:   {}\n", num(v, "entries_pending"));
    out += &format!("bytes pending:     {}\n", num(v, "bytes_pending"));
    out += &format!(
        "oldest pending:    {} ms\n",
        num(v, "oldest_pending_age_ms")
    );
    if let Some(lag) = v.pointer("/replication/lag_ms").filter(|l| !l.is_null()) {
        out += &format!(
            "recent lag:        p50 {} ms, p99 {} ms ({} samples)\n",
            num(lag, "p50"),
            num(lag, "p99"),
            num(lag, "samples")
        );
    }
    match v.get("last_error").filter(|e| !e.is_null()) {
        Some(e) => {
            out += &format!(
                "last error:        {} (entry {}, {} attempts)\n",
                text(e, "message"),
                e.get("seq")
                    .and_then(Value::as_u64)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                num(e, "attempts")
            )
        }
        None => out += "last error:        none\n",
    }
    if let Some(r) = v.get("resync").filter(|r| !r.is_null()) {
        out += &format!("resync:            in progress ({r})\n");
    }
    let divergent = num(v, "divergent");
    if divergent > 0 {
        out += &format!("divergent writes:  {divergent} (bascule admin zone divergent)\n");
    }
    out
}

pub fn promotion(v: &Value) -> String {
    let mut line = format!(
        "Promoted to primary with epoch {}. Last applied sequence number (promotion point): {}.",
        num(v, "epoch"),
        num(v, "after_seq")
    );
    let exact = v
        .get("entries_at_risk_exact")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match v.get("entries_at_risk").and_then(Value::as_u64) {
        Some(n) if exact => {
            line += &format!(" Entries at risk: {n} (beyond that point, not on this zone).")
        }
        Some(n) => line += &format!(
            " Entries at risk: at least {n}. The old primary had shown {n} entries beyond that point, and may have written more it never showed: they are not on this zone, and are set aside if it rejoins."
        ),
        None => line += " Entries at risk: unknown (the old primary was never heard from); whatever it wrote after that point is set aside if it rejoins.",
    }
    if let Some(w) = v.get("warning").and_then(Value::as_str) {
        line += &format!("\nWarning: {w}");
    }
    line
}

pub fn divergent(v: &Value) -> String {
    let Some(list) = v.as_array() else {
        return String::new();
    };
    if list.is_empty() {
        return "no divergent writes\n".into();
    }
    let mut out = format!("{:<24} {:>8} {:<16} {}\n", "ID", "EPOCH", "KIND", "OBJECT");
    for q in list {
        let object = match (
            q.get("bucket").and_then(Value::as_str),
            q.get("key").and_then(Value::as_str),
        ) {
            (Some(b), Some(k)) => format!("{b}/{k}"),
            _ => "-".into(),
        };
        out += &format!(
            "{:<24} {:>8} {:<16} {}\n",
            text(q, "id"),
            num(q, "epoch"),
            text(q, "kind"),
            object
        );
    }
    out
}

/// A verify's report as text.
pub fn verify(v: &Value) -> String {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let mut out = format!(
        "Verified {} keys in {} buckets: primary {} against secondary {}, journal {} to {}, {:.1} s.\n",
        n("keys"),
        n("buckets"),
        v["primary"].as_str().unwrap_or("?"),
        v["secondary"].as_str().unwrap_or("?"),
        n("from_seq"),
        n("to_seq"),
        n("finished_ms").saturating_sub(n("started_ms")) as f64 / 1000.0,
    );
    out.push_str(&format!(
        "Ranges {} ({} differing), key digests moved {}, records moved {}.\n",
        n("ranges"),
        n("ranges_differing"),
        n("key_digests_moved"),
        n("records_moved")
    ));
    for (kind, label) in [
        ("missing", "missing on the secondary"),
        ("extra", "extra on the secondary"),
        ("different", "different"),
        ("settings", "settings (buckets, users, keys) differing"),
    ] {
        let count = v[kind]["count"].as_u64().unwrap_or(0);
        out.push_str(&format!("{label}: {count}\n"));
        for name in v[kind]["first"].as_array().into_iter().flatten() {
            out.push_str(&format!("  {}\n", name.as_str().unwrap_or("?")));
        }
    }
    if n("changing") > 0 {
        out.push_str(&format!(
            "{} keys changed on the primary while compared (not counted; the next verify looks again).\n",
            n("changing")
        ));
    }
    if n("repaired") + n("repair_failed") > 0 {
        out.push_str(&format!(
            "Repaired {} keys and settings on the secondary ({} could not be).\n",
            n("repaired"),
            n("repair_failed")
        ));
    }
    if let Some(e) = v["error"].as_str() {
        out.push_str(&format!("Did not finish: {e}\n"));
    }
    out
}
