//! The one description of a handler: what [`handlers`](crate::handlers) lists, and
//! what the exit run's reports and trace lines name.

use std::fmt;

/// A pending exit handler, as [`handlers`](crate::handlers) lists it.
///
/// `Display` prints one line; [`HandlerInfo::table`] prints a list of them as a
/// table, which is what `{:?}` on the list would not give.
///
/// ```
/// let handle = atexit::register_with(3, || {});
/// let info = &atexit::handlers()[0];
/// assert_eq!(info.priority(), 3);
/// assert!(!info.is_static());
/// assert_eq!(info.file(), file!());
/// # atexit::unregister(handle);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerInfo {
    name: &'static str,
    priority: i32,
    file: &'static str,
    line: u32,
    is_static: bool,
    is_async: bool,
}

impl HandlerInfo {
    pub(crate) fn new(
        name: &'static str,
        priority: i32,
        file: &'static str,
        line: u32,
        is_static: bool,
        is_async: bool,
    ) -> Self {
        HandlerInfo {
            name,
            priority,
            file,
            line,
            is_static,
            is_async,
        }
    }

    /// How reports name the handler: `` `name` (file:line) ``.
    pub(crate) fn label(&self) -> impl fmt::Display + '_ {
        struct Label<'a>(&'a HandlerInfo);
        impl fmt::Display for Label<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "`{}` ({}:{})", self.0.name, self.0.file, self.0.line)
            }
        }
        Label(self)
    }

    /// The handler's name: the `name = "…"` given to `#[on_exit]`, else the function's
    /// path; for a dynamic handler, the type name of the closure or function.
    ///
    /// ```
    /// fn flush() {}
    /// atexit::register(flush);
    /// assert!(atexit::handlers()[0].name().ends_with("::flush"));
    /// # atexit::clear();
    /// ```
    pub fn name(&self) -> &str {
        self.name
    }

    /// The priority; handlers with a higher priority run first.
    ///
    /// ```
    /// atexit::register_with(-1, || {});
    /// assert_eq!(atexit::handlers()[0].priority(), -1);
    /// # atexit::clear();
    /// ```
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// The source file that declared or registered the handler: for a dynamic handler,
    /// where `register` was called.
    ///
    /// ```
    /// atexit::register(|| {});
    /// assert_eq!(atexit::handlers()[0].file(), file!());
    /// # atexit::clear();
    /// ```
    pub fn file(&self) -> &str {
        self.file
    }

    /// The line in [`file`](Self::file).
    ///
    /// ```
    /// let line = line!() + 1;
    /// atexit::register(|| {});
    /// assert_eq!(atexit::handlers()[0].line(), line);
    /// # atexit::clear();
    /// ```
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Whether the handler was declared with `#[on_exit]` rather than registered.
    ///
    /// ```
    /// #[atexit::on_exit]
    /// fn declared() {}
    ///
    /// # fn main() {
    /// atexit::register(|| {});
    /// let kinds: Vec<bool> = atexit::handlers().iter().map(|h| h.is_static()).collect();
    /// assert_eq!(kinds, [false, true], "dynamic first at equal priority");
    /// # atexit::clear();
    /// # }
    /// ```
    pub fn is_static(&self) -> bool {
        self.is_static
    }

    /// Whether the handler is async: an `#[on_exit] async fn`, or a future given to
    /// `register_async` (both with the `tokio` feature).
    ///
    /// ```
    /// atexit::register(|| {});
    /// assert!(!atexit::handlers()[0].is_async());
    /// # atexit::clear();
    /// ```
    pub fn is_async(&self) -> bool {
        self.is_async
    }

    /// Formats a list of handlers as an aligned table, one row each.
    ///
    /// ```
    /// let handle = atexit::register(|| {});
    /// let table = atexit::HandlerInfo::table(&atexit::handlers()).to_string();
    /// assert!(table.starts_with("  # priority  kind"));
    /// assert!(table.contains("dynamic"));
    /// # atexit::unregister(handle);
    /// ```
    pub fn table(handlers: &[HandlerInfo]) -> HandlerTable<'_> {
        HandlerTable { handlers }
    }

    fn kind(&self) -> &'static str {
        if self.is_static {
            "static"
        } else {
            "dynamic"
        }
    }
}

impl fmt::Display for HandlerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (priority {}, {}, {}:{})",
            self.name,
            self.priority,
            self.kind(),
            self.file,
            self.line
        )
    }
}

/// A list of handlers displayed as a table; made by [`HandlerInfo::table`].
///
/// ```
/// atexit::register_with(2, || {});
/// let handlers = atexit::handlers();
/// let table = atexit::HandlerInfo::table(&handlers).to_string();
/// let row = table.lines().nth(1).unwrap();
/// assert!(row.starts_with("  1        2  dynamic"));
/// # atexit::clear();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HandlerTable<'a> {
    handlers: &'a [HandlerInfo],
}

impl fmt::Display for HandlerTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_width = self
            .handlers
            .iter()
            .map(|handler| handler.name.chars().count())
            .fold("name".len(), usize::max);
        writeln!(
            f,
            "{:>3} {:>8}  {:<7}  {:<name_width$}  location",
            "#", "priority", "kind", "name"
        )?;
        for (position, handler) in self.handlers.iter().enumerate() {
            writeln!(
                f,
                "{:>3} {:>8}  {:<7}  {:<name_width$}  {}:{}",
                position + 1,
                handler.priority,
                handler.kind(),
                handler.name,
                handler.file,
                handler.line
            )?;
        }
        Ok(())
    }
}
