//! How results reach the operator: every command builds a [`Report`] (a serde value
//! with a table rendering) and [`emit`] writes it as an aligned text table or as one
//! JSON document on stdout. Helpers here render tables, byte counts and yes/no cells.

use std::io::Write;

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::Serialize;

/// Output format of every command (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable aligned tables.
    Table,
    /// One JSON document on stdout.
    Json,
}

/// A command's result: serialised for `--format json`, rendered for `--format table`.
pub trait Report: Serialize {
    /// The human rendering, ending with a newline.
    fn table(&self) -> String;
}

/// Writes `report` to stdout in `format`. A closed pipe (`cuttle pool ls | head`) is
/// not an error.
pub fn emit(format: Format, report: &impl Report) -> Result<()> {
    let text = match format {
        Format::Table => report.table(),
        Format::Json => {
            let mut s =
                serde_json::to_string_pretty(report).context("encoding the result as JSON")?;
            s.push('\n');
            s
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// A text table: a header row and left-aligned columns (right-aligned where asked)
/// separated by two spaces, without trailing blanks.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            right: vec![false; header.len()],
            rows: Vec::new(),
        }
    }

    /// Right-aligns column `col` (numbers).
    pub fn right(mut self, col: usize) -> Table {
        if let Some(r) = self.right.get_mut(col) {
            *r = true;
        }
        self
    }

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// The rendered table, one line per row, each ending with a newline.
    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(widths[i] - width(cell));
                if self.right[i] {
                    line.push_str(&pad);
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `yes` or `no`.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// A byte count in binary units: `0 B`, `512 B`, `1.5 KiB`, `3.0 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_have_no_trailing_blanks() {
        let mut t = Table::new(&["ID", "NAME", "PG_NUM"]).right(0).right(2);
        t.row(vec!["1".into(), "ec".into(), "32".into()]);
        t.row(vec!["12".into(), "replicated-pool".into(), "128".into()]);
        t.row(vec!["3".into(), "".into()]);
        assert_eq!(
            t.render(),
            "ID  NAME             PG_NUM\n\
             \x201  ec                   32\n\
             12  replicated-pool     128\n\
             \x203\n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header() {
        let t = Table::new(&["NAME", "PID"]);
        assert_eq!(t.render(), "NAME  PID\n");
    }

    #[test]
    fn wide_characters_count_once() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["é".into(), "x".into()]);
        assert_eq!(t.render(), "A  B\né  x\n");
    }

    #[test]
    fn byte_counts_use_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }
}
