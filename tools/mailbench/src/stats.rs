//! Results: a row's samples, summarised as a JSON line (stdout) and a sentence
//! (stderr).

/// One measured row.
#[derive(Clone, Debug)]
pub struct Report {
    /// Row name, e.g. `fetch_envelope`.
    pub row: String,
    /// Who was measured (`--label`).
    pub server: String,
    /// One value per repetition: seconds, or KiB for memory rows.
    pub samples: Vec<f64>,
    /// `s` or `KiB`.
    pub unit: &'static str,
    /// Operations per repetition (messages fetched, logins...), for ops/s.
    pub ops: f64,
    /// How the row was done (e.g. `COPY+STORE+EXPUNGE: no MOVE`).
    pub note: String,
    /// Extra key/value figures (already formatted as JSON values).
    pub extra: Vec<(String, String)>,
}

impl Report {
    pub fn new(row: &str, server: &str, unit: &'static str, ops: f64) -> Report {
        Report {
            row: row.to_string(),
            server: server.to_string(),
            samples: Vec::new(),
            unit,
            ops,
            note: String::new(),
            extra: Vec::new(),
        }
    }

    pub fn extra(&mut self, k: &str, v: impl std::fmt::Display) {
        self.extra.push((k.to_string(), v.to_string()));
    }

    pub fn median(&self) -> f64 {
        percentile(&self.samples, 50.0)
    }

    /// Prints the JSON line on stdout and the sentence on stderr.
    pub fn print(&self) {
        println!("{}", self.json());
        eprintln!("{}", self.human());
    }

    pub fn json(&self) -> String {
        let med = self.median();
        let mut s = format!(
            "{{\"row\":{},\"server\":{},\"unit\":\"{}\",\"reps\":{},\"median\":{},\"min\":{},\"max\":{},\"p90\":{},\"ops\":{}",
            json_str(&self.row),
            json_str(&self.server),
            self.unit,
            self.samples.len(),
            num(med),
            num(percentile(&self.samples, 0.0)),
            num(percentile(&self.samples, 100.0)),
            num(percentile(&self.samples, 90.0)),
            num(self.ops),
        );
        if self.unit == "s" {
            let rate = if med > 0.0 { self.ops / med } else { 0.0 };
            s.push_str(&format!(",\"ops_per_s\":{}", num(rate)));
        }
        s.push_str(&format!(",\"note\":{}", json_str(&self.note)));
        for (k, v) in &self.extra {
            s.push_str(&format!(",{}:{v}", json_str(k)));
        }
        s.push('}');
        s
    }

    pub fn human(&self) -> String {
        let med = self.median();
        let n = self.samples.len();
        let mut s = format!("{} [{}]: ", self.row, self.server);
        if self.unit == "s" {
            s.push_str(&format!(
                "median {} (min {}, max {}, n={n})",
                dur(med),
                dur(percentile(&self.samples, 0.0)),
                dur(percentile(&self.samples, 100.0))
            ));
            if self.ops > 1.0 && med > 0.0 {
                s.push_str(&format!(
                    ", {:.0} ops/s over {} ops",
                    self.ops / med,
                    self.ops
                ));
            }
        } else {
            s.push_str(&format!("median {med:.0} {} (n={n})", self.unit));
        }
        if !self.note.is_empty() {
            s.push_str(&format!("; {}", self.note));
        }
        s
    }
}

/// Nearest-rank percentile (0 = min, 100 = max) of unsorted samples; 0 if none.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    if p >= 100.0 {
        return v[v.len() - 1];
    }
    if (p - 50.0).abs() < f64::EPSILON && v.len().is_multiple_of(2) {
        let m = v.len() / 2;
        return (v[m - 1] + v[m]) / 2.0;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.6}")
    } else {
        "null".to_string()
    }
}

fn dur(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

/// `s` as a JSON string.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 50.0), 2.5);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.0), 1.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 100.0), 3.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn json_line_carries_rate_and_escapes_notes() {
        let mut r = Report::new("fetch", "ours", "s", 100.0);
        r.samples = vec![2.0, 1.0, 3.0];
        r.note = "a \"b\"".into();
        r.extra("bytes", 5);
        let j = r.json();
        assert!(j.contains("\"median\":2.000000"), "{j}");
        assert!(j.contains("\"ops_per_s\":50.000000"), "{j}");
        assert!(j.contains("\"note\":\"a \\\"b\\\"\""), "{j}");
        assert!(j.ends_with(",\"bytes\":5}"), "{j}");
    }
}
