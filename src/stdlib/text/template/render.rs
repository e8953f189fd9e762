//! `text.template.render`.

use crate::error::{CapError, ErrorKind};
use crate::stdlib::generated::text::template::*;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Most bytes a rendered template may have.
const MAX_OUTPUT: usize = 1024 * 1024;

/// Most items one `range()` call may produce (minijinja's own limit).
const MAX_RANGE_LEN: u64 = 100_000;

/// Most items `range()` may produce in one render, all calls together, so that a
/// runaway loop such as a `range(100000)` nested in another stops with an error long
/// before the call's time limit.
const RANGE_BUDGET: u64 = 1_000_000;

/// The render's work accounting, shared between the `range()` global and the handler.
#[derive(Default)]
struct Budget {
    /// Items handed out by `range()` so far.
    used: AtomicU64,
    /// Why the budget stopped the render, if it did.
    exhausted: Mutex<Option<String>>,
}

impl Budget {
    fn stop(&self, why: String) -> minijinja::Error {
        let err = minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, why.clone());
        if let Ok(mut slot) = self.exhausted.lock() {
            slot.get_or_insert(why);
        }
        err
    }

    fn exhausted(&self) -> Option<String> {
        self.exhausted.lock().ok().and_then(|mut s| s.take())
    }
}

/// The writer a template renders into: it stops the render when the output passes
/// [`MAX_OUTPUT`] or the call passes its time limit (or is cancelled).
struct BoundedOutput<'c, 'a> {
    ctx: &'c RenderCtx<'a>,
    buf: Vec<u8>,
    stopped: Option<CapError>,
}

impl io::Write for BoundedOutput<'_, '_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Err(e) = self.ctx.checkpoint() {
            self.stopped = Some(e);
            return Err(io::Error::other("the call was stopped"));
        }
        if self.buf.len() + data.len() > MAX_OUTPUT {
            self.stopped = Some(
                CapError::new(
                    ErrorKind::Execution,
                    format!(
                        "the rendered text would be larger than the limit of {MAX_OUTPUT} bytes (1 MiB)"
                    ),
                )
                .with_field("template")
                .with_hint("render less: loop over fewer items, or split the work into several smaller templates"),
            );
            return Err(io::Error::other("output limit reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How many items `range(lower, upper, step)` produces (0 for a step of 0, which the
/// builtin reports as an error).
fn range_len(lower: isize, upper: Option<isize>, step: Option<isize>) -> u64 {
    let (lo, hi) = match upper {
        Some(upper) => (lower as i128, upper as i128),
        None => (0, lower as i128),
    };
    let step = step.unwrap_or(1) as i128;
    let n = if step > 0 && hi > lo {
        (hi - lo + step - 1) / step
    } else if step < 0 && lo > hi {
        (lo - hi - step - 1) / -step
    } else {
        0
    };
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The `range()` global: minijinja's builtin, charged against the render's [`Budget`].
fn budgeted_range(
    budget: Arc<Budget>,
) -> impl Fn(isize, Option<isize>, Option<isize>) -> Result<minijinja::Value, minijinja::Error>
+ Send
+ Sync
+ 'static {
    move |lower, upper, step| {
        let n = range_len(lower, upper, step);
        if n > MAX_RANGE_LEN {
            return Err(budget.stop(format!(
                "range() would produce {n} items, more than the {MAX_RANGE_LEN} allowed"
            )));
        }
        let used = budget.used.fetch_add(n, Ordering::Relaxed) + n;
        if used > RANGE_BUDGET {
            return Err(budget.stop(format!(
                "its loops go over more than {RANGE_BUDGET} range() items in total"
            )));
        }
        minijinja::functions::range(lower, upper, step)
    }
}

/// Instructions one render may run.
const FUEL: u64 = 50_000_000;

/// `text.template.render`: renders a Jinja template (minijinja) with `variables`.
///
/// - The environment has no loader, so `include`, `import` and `extends` cannot reach
///   files; templates cannot read the environment either.
/// - Undefined variables are *semi-strict*: printing, iterating or passing an undefined
///   variable to a filter is an error naming the line, so a misspelt name does not
///   silently render as nothing; `{% if name %}`, `name is defined` and
///   `name | default("...")` still work for optional variables.
/// - A trailing newline of the template is kept (Jinja would drop it).
/// - Output is limited to 1 MiB, and the work is bounded: `range()` yields at most
///   100,000 items per call and 1,000,000 per render, and the call's time limit (and
///   cancellation) is checked at each write. Every other loop is bounded by fuel: each
///   instruction costs one unit, and a render gets [`FUEL`] of them.
/// - Syntax errors and errors raised by the template (undefined variables, bad filter
///   arguments) are invalid-input errors on `template` with the line number; reaching a
///   limit is an execution error.
pub fn render(ctx: &mut RenderCtx<'_>, p: RenderParams) -> Result<RenderResult, CapError> {
    let RenderSyntax::Jinja = p.syntax;
    let budget = Arc::new(Budget::default());
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| CapError::execution(format!("cannot set up the template engine: {e}")))?,
    );
    env.add_function("range", budgeted_range(budget.clone()));
    env.set_fuel(Some(FUEL));

    let template = env
        .template_from_str(&p.template)
        .map_err(|e| template_error(&e, "has a syntax error"))?;

    let ctx: &RenderCtx<'_> = ctx;
    let mut out = BoundedOutput {
        ctx,
        buf: Vec::new(),
        stopped: None,
    };
    let vars = minijinja::Value::from(minijinja::value::Serde(&p.variables));
    let result = template.render_captured_to(vars, &mut out);
    if let Some(stop) = out.stopped.take() {
        return Err(stop);
    }
    if let Err(e) = result {
        if e.kind() == minijinja::ErrorKind::OutOfFuel {
            return Err(CapError::new(
                ErrorKind::Execution,
                format!(
                    "the template does too much work{}: it ran out of its {FUEL} steps",
                    line_suffix(&e)
                ),
            )
            .with_field("template")
            .with_hint("loop over fewer items (smaller ranges, fewer nested loops)"));
        }
        if let Some(why) = budget.exhausted() {
            return Err(CapError::new(
                ErrorKind::Execution,
                format!("the template does too much work{}: {why}", line_suffix(&e)),
            )
            .with_field("template")
            .with_hint("loop over fewer items (smaller ranges, fewer nested loops)"));
        }
        return Err(template_error(&e, "failed to render"));
    }
    let rendered = String::from_utf8(out.buf)
        .map_err(|_| CapError::execution("the rendered text is not valid UTF-8"))?;
    Ok(RenderResult { rendered })
}

/// ` at line N` when minijinja knows the line of the error.
fn line_suffix(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) if line > 0 => format!(" at line {line}"),
        _ => String::new(),
    }
}

/// An invalid-input error on `template` from a minijinja error.
fn template_error(e: &minijinja::Error, what: &str) -> CapError {
    let detail = match (e.kind(), e.detail()) {
        (minijinja::ErrorKind::SyntaxError, Some(d)) => d.to_string(),
        (kind, Some(d)) => format!("{kind}: {d}"),
        (kind, None) => kind.to_string(),
    };
    let hint = match e.kind() {
        minijinja::ErrorKind::UndefinedError => {
            "pass every variable the template uses in `variables`, or give optional ones a default: {{ name | default(\"\") }}"
        }
        minijinja::ErrorKind::SyntaxError if detail.starts_with("unknown statement") => {
            "include, import, extends and macro are not available: put everything in one template (if, for, set, with, filter and raw work)"
        }
        minijinja::ErrorKind::SyntaxError => {
            "check the template's tags at that line: {{ expression }}, {% statement %} ... {% endstatement %}, {# comment #}"
        }
        _ => "fix the template (or the variables it uses) at that line and try again",
    };
    CapError::invalid_field("template", format!("{what}{}: {detail}", line_suffix(e)))
        .with_hint(hint)
}
