//! [`Apps`]: which apps a command is about, typed, instead of the word `all`.

use super::ALL;

/// Which apps a command is about: every app, in dependency order, or one by name. Every
/// manager's `new` takes it (or a name; the word `all` means [`Apps::All`]).
///
/// ```
/// use ferry_core::{Apps, ForwardsMigrationManager};
/// let every = ForwardsMigrationManager::new(Apps::All);
/// assert_eq!(every.app_name, "all");
/// let users = ForwardsMigrationManager::new(Apps::one("users"));
/// assert_eq!(users.app_name, "users");
/// assert_eq!(Apps::from("all"), Apps::All);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Apps {
    /// Every app.
    All,
    /// The app of this name.
    One(String),
}

impl Apps {
    /// The app called `name`.
    pub fn one(name: impl Into<String>) -> Apps {
        Apps::One(name.into())
    }

    /// The selector as the managers' `app_name` field holds it: `all` or the app's name.
    pub fn as_str(&self) -> &str {
        match self {
            Apps::All => ALL,
            Apps::One(name) => name,
        }
    }
}

impl From<&str> for Apps {
    fn from(name: &str) -> Apps {
        if name == ALL {
            Apps::All
        } else {
            Apps::one(name)
        }
    }
}

impl From<Apps> for String {
    fn from(apps: Apps) -> String {
        match apps {
            Apps::All => ALL.to_owned(),
            Apps::One(name) => name,
        }
    }
}

impl std::fmt::Display for Apps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
