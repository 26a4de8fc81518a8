//! Plain-text tables with aligned columns (no colour inside cells, so widths stay right).

/// Renders rows under a header, columns separated by two spaces, last column unpadded.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut push = |cells: Vec<&str>| {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push(header.to_vec());
    for r in rows {
        push(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let t = super::render(
            &["PHASE", "STATUS"],
            &[
                vec!["infra".into(), "succeeded".into()],
                vec!["nodes".into(), "-".into()],
            ],
        );
        assert_eq!(t, "PHASE  STATUS\ninfra  succeeded\nnodes  -\n");
    }
}
