//! What the command line knows about the terminal: how wide tables may be and whether
//! to colour them.
//!
//! Tables fit the terminal (`COLUMNS`, else the terminal's own width, else
//! [`PIPED_WIDTH`] when the output is not a terminal); `--wide` lifts the limit.
//! Identifier columns are never wrapped, descriptions are. Colour follows the usual
//! conventions: on a terminal only, never with `NO_COLOR`, always with `CLICOLOR_FORCE`.

use anstyle::{AnsiColor, Style};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ColumnConstraint, ContentArrangement, Table, Width};
use std::sync::atomic::{AtomicBool, Ordering};

/// Table width when standard output is not a terminal and `COLUMNS` is not set.
pub const PIPED_WIDTH: u16 = 100;

static WIDE: AtomicBool = AtomicBool::new(false);

/// Lets tables be as wide as their content (`--wide`).
pub fn set_wide(wide: bool) {
    WIDE.store(wide, Ordering::Relaxed);
}

/// The width tables must fit, or `None` for no limit.
pub fn table_width() -> Option<u16> {
    if WIDE.load(Ordering::Relaxed) {
        return None;
    }
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&c| c >= 20)
    {
        return Some(cols);
    }
    Some(Table::new().width().unwrap_or(PIPED_WIDTH))
}

/// Whether standard output gets colour.
pub fn colour_stdout() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// One cell of a [`Grid`]: text, and a colour for terminals that show it.
#[derive(Debug, Clone)]
pub struct GridCell {
    text: String,
    colour: Option<Color>,
}

impl From<String> for GridCell {
    fn from(text: String) -> Self {
        GridCell { text, colour: None }
    }
}

impl From<&str> for GridCell {
    fn from(text: &str) -> Self {
        text.to_string().into()
    }
}

impl From<&String> for GridCell {
    fn from(text: &String) -> Self {
        text.clone().into()
    }
}

/// Rows to show a person: a table that fits [`table_width`], or, when even a table whose
/// columns break only between words would not fit, one block per row (`name: value`
/// lines). The columns listed in `whole` hold identifiers and are never broken.
#[derive(Debug, Clone)]
pub struct Grid {
    header: Vec<String>,
    whole: Vec<usize>,
    rows: Vec<Vec<GridCell>>,
}

impl Grid {
    /// An empty grid with these column names.
    pub fn new<H: Into<String>>(header: impl IntoIterator<Item = H>, whole: &[usize]) -> Self {
        Grid {
            header: header.into_iter().map(Into::into).collect(),
            whole: whole.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row, one cell per column.
    pub fn row<C: Into<GridCell>>(&mut self, cells: impl IntoIterator<Item = C>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The narrowest a column can be: its longest line for identifier columns, its
    /// longest word for the others (and never narrower than its name).
    fn min_column_width(&self, col: usize) -> usize {
        let whole = self.whole.contains(&col);
        let widest = |text: &str| -> usize {
            text.lines()
                .flat_map(|line| {
                    if whole {
                        vec![line.chars().count()]
                    } else {
                        line.split_whitespace().map(|w| w.chars().count()).collect()
                    }
                })
                .max()
                .unwrap_or(0)
        };
        let name = self.header.get(col).map_or(0, |h| widest(h));
        self.rows
            .iter()
            .filter_map(|r| r.get(col))
            .map(|c| widest(&c.text))
            .max()
            .unwrap_or(0)
            .max(name)
    }

    /// A column's width with nothing wrapped: its longest line (or its name).
    fn content_width(&self, col: usize) -> usize {
        let longest = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        self.rows
            .iter()
            .filter_map(|r| r.get(col))
            .map(|c| longest(&c.text))
            .chain(self.header.get(col).map(|h| longest(h)))
            .max()
            .unwrap_or(0)
    }

    /// The grid as text for standard output, ending with a newline.
    pub fn render(&self) -> String {
        let width = table_width();
        let columns = self.header.len();
        // Each column takes its content plus a space either side and one border.
        let narrowest: usize = (0..columns)
            .map(|c| self.min_column_width(c) + 3)
            .sum::<usize>()
            + 1;
        match width {
            Some(w) if narrowest > usize::from(w) => self.render_blocks(),
            _ => self.render_table(width),
        }
    }

    fn render_table(&self, width: Option<u16>) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(self.header.iter().map(Cell::new));
        if colour_stdout() {
            t.enforce_styling();
        } else {
            t.force_no_tty();
        }
        for row in &self.rows {
            t.add_row(row.iter().map(|c| match c.colour {
                Some(colour) => Cell::new(&c.text).fg(colour),
                None => Cell::new(&c.text),
            }));
        }
        let widest: usize = (0..self.header.len())
            .map(|c| self.content_width(c) + 3)
            .sum::<usize>()
            + 1;
        match width {
            Some(w) if widest > usize::from(w) => {
                t.set_content_arrangement(ContentArrangement::Dynamic)
                    .set_width(w);
                for col in 0..self.header.len() {
                    let min = self.min_column_width(col);
                    if let Some(column) = t.column_mut(col) {
                        column.set_constraint(if self.whole.contains(&col) {
                            ColumnConstraint::ContentWidth
                        } else {
                            ColumnConstraint::LowerBoundary(Width::Fixed(
                                u16::try_from(min).unwrap_or(u16::MAX),
                            ))
                        });
                    }
                }
            }
            _ => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        format!("{t}\n")
    }

    fn render_blocks(&self) -> String {
        let colour = colour_stdout();
        let paint = |text: &str, style: Style| {
            if colour {
                format!("{style}{text}{style:#}")
            } else {
                text.to_string()
            }
        };
        let mut out = String::new();
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            for (col, cell) in row.iter().enumerate() {
                let name = self.header.get(col).map_or("", String::as_str);
                let text = match cell.colour {
                    Some(c) if colour => paint(&cell.text, ansi(c)),
                    _ => cell.text.clone(),
                };
                if col == 0 {
                    out.push_str(&paint(&text, Style::new().bold()));
                    out.push('\n');
                    continue;
                }
                let mut lines = text.lines();
                out.push_str(&format!(
                    "  {}: {}\n",
                    paint(name, Style::new().dimmed()),
                    lines.next().unwrap_or("")
                ));
                for line in lines {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
        out
    }
}

/// The terminal colour of a table colour (for the block layout).
fn ansi(c: Color) -> Style {
    let colour = match c {
        Color::Green => AnsiColor::Green,
        Color::Yellow => AnsiColor::Yellow,
        Color::Red => AnsiColor::Red,
        _ => return Style::new(),
    };
    colour.on_default()
}

/// A cell coloured by an operation's or record's state: green when it holds, yellow when
/// it was taken back or is under way, red when it failed or was refused.
pub fn state_cell(state: &str) -> GridCell {
    let colour = match state {
        "done" | "ok" | "allowed" | "approved" => Some(Color::Green),
        "undone" | "expired" | "irreversible" | "running" | "undoing" | "redoing" => {
            Some(Color::Yellow)
        }
        "interrupted" | "error" | "failed" | "denied" | "declined" | "refused" => Some(Color::Red),
        _ => None,
    };
    GridCell {
        text: state.to_string(),
        colour,
    }
}

/// The style of `error:` on stderr.
pub const ERROR: Style = AnsiColor::Red.on_default().bold();
/// The style of `hint:` on stderr.
pub const HINT: Style = AnsiColor::Cyan.on_default().bold();
/// The style of a finished action's headline (`undone:`, `redone:`).
pub const DONE: Style = AnsiColor::Green.on_default().bold();
/// The style of a warning (`not undone:`).
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();

/// Prints an error and its hint on stderr, coloured when stderr is a terminal.
pub fn print_error(message: &str, hint: Option<&str>) {
    anstream::eprintln!("{ERROR}error:{ERROR:#} {message}");
    if let Some(h) = hint {
        anstream::eprintln!("{HINT}hint:{HINT:#} {h}");
    }
}

/// A progress bar on stderr for a long call, drawn only when stderr is a terminal and
/// only once the call reports progress.
pub fn progress_bar() -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(unknown_total_style());
    bar
}

/// Moves `bar` to `done` of `total` with `message` (the pipeline's progress report).
pub fn report_progress(bar: &indicatif::ProgressBar, done: u64, total: Option<u64>, message: &str) {
    match total {
        Some(total) => {
            if bar.length() != Some(total) {
                bar.set_style(known_total_style());
                bar.set_length(total);
            }
        }
        None => {
            if bar.length().is_some() {
                bar.set_style(unknown_total_style());
                bar.unset_length();
            }
        }
    }
    bar.set_message(message.to_string());
    bar.set_position(done);
}

/// A spinner on stderr for work that reports no progress (`gc`).
pub fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar = progress_bar();
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

fn known_total_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(
        "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} ({elapsed})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ")
}

fn unknown_total_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template("{spinner} {msg} {human_pos} ({elapsed})")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
}
