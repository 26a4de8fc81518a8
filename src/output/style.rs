//! ANSI styling that turns itself off without a TTY or with `NO_COLOR`.

/// Styles text when colour is on; returns it unchanged otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    /// Bold.
    pub fn bold(self, t: &str) -> String {
        self.wrap("1", t)
    }
    /// Green (success).
    pub fn green(self, t: &str) -> String {
        self.wrap("32", t)
    }
    /// Red (failure).
    pub fn red(self, t: &str) -> String {
        self.wrap("31", t)
    }
    /// Yellow (warnings, changes).
    pub fn yellow(self, t: &str) -> String {
        self.wrap("33", t)
    }
    /// Dim (secondary information).
    pub fn dim(self, t: &str) -> String {
        self.wrap("2", t)
    }
}
