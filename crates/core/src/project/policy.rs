//! [`OutOfOrder`]: what `forwards` does with a pending migration older than an applied one
//! (SPEC §5.1.12, §15.3).

/// What `forwards` does with a pending migration whose ID is lower than the app's highest
/// applied ID (typically a branch merged after a later migration was deployed):
/// `out_of_order = "warn" | "allow" | "refuse"` in `ferry.toml`, `--out-of-order POLICY`,
/// [`Migrator::with_out_of_order`](crate::Migrator::with_out_of_order).
///
/// ```
/// use ferry_core::OutOfOrder;
/// assert_eq!("refuse".parse::<OutOfOrder>(), Ok(OutOfOrder::Refuse));
/// assert_eq!(OutOfOrder::default(), OutOfOrder::Warn);
/// assert_eq!(OutOfOrder::Allow.to_string(), "allow");
/// assert!("sometimes".parse::<OutOfOrder>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum OutOfOrder {
    /// Run it, with a warning (the default).
    #[default]
    Warn,
    /// Run it silently.
    Allow,
    /// Refuse the whole run before anything runs, naming the out-of-order IDs.
    Refuse,
}

impl OutOfOrder {
    /// The policy's word: `warn`, `allow` or `refuse`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutOfOrder::Warn => "warn",
            OutOfOrder::Allow => "allow",
            OutOfOrder::Refuse => "refuse",
        }
    }
}

impl std::str::FromStr for OutOfOrder {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "warn" => Ok(OutOfOrder::Warn),
            "allow" => Ok(OutOfOrder::Allow),
            "refuse" => Ok(OutOfOrder::Refuse),
            other => Err(format!(
                "unknown out-of-order policy `{}`: use warn, allow or refuse",
                other.chars().take(40).collect::<String>()
            )),
        }
    }
}

impl std::fmt::Display for OutOfOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
