//! Migration targets (SPEC §5.1.2, §5.1.10, §5.2.2, §5.2.9), parsed once from what the user
//! typed. The keywords `all` and `1` are compared here and nowhere else.

use super::ALL;
use crate::error::{Error, Result};

/// Which pending migrations `forwards` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardsTarget {
    /// Every pending migration (`all`, the default).
    All,
    /// The first pending migration (`1`).
    Next,
    /// The pending migrations up to and including this ID.
    UpTo(String),
}

impl ForwardsTarget {
    /// The target for `app_name` and the migration ID as typed (`None` when omitted).
    ///
    /// With app `all` the ID must be omitted or `all`; anything else is a usage error.
    ///
    /// ```
    /// use ferry_core::ForwardsTarget;
    /// assert_eq!(ForwardsTarget::parse("blog", None).unwrap(), ForwardsTarget::All);
    /// assert_eq!(ForwardsTarget::parse("blog", Some("1")).unwrap(), ForwardsTarget::Next);
    /// assert_eq!(ForwardsTarget::parse("blog", Some("7")).unwrap(), ForwardsTarget::UpTo("7".into()));
    /// assert!(ForwardsTarget::parse("all", Some("1")).is_err());
    /// ```
    pub fn parse(app_name: &str, migration_id: Option<&str>) -> Result<ForwardsTarget> {
        Ok(match (app_name == ALL, migration_id) {
            (_, None | Some(ALL)) => ForwardsTarget::All,
            (true, Some(id)) => return Err(all_with_id(id)),
            (false, Some("1")) => ForwardsTarget::Next,
            (false, Some(id)) => ForwardsTarget::UpTo(id.to_owned()),
        })
    }
}

/// Which applied migrations `backwards` reverses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackwardsTarget {
    /// Every applied migration (`all`; the default for app `all`).
    All,
    /// The most recently applied migration (`1`; the default for one app).
    Last,
    /// This applied migration and every one applied after it.
    From(String),
}

impl BackwardsTarget {
    /// The target for `app_name` and the migration ID as typed (`None` when omitted).
    ///
    /// With app `all` the ID must be omitted or `all` (both mean every applied migration of
    /// every app, as in Piccolo); anything else is a usage error.
    ///
    /// ```
    /// use ferry_core::BackwardsTarget;
    /// assert_eq!(BackwardsTarget::parse("blog", None).unwrap(), BackwardsTarget::Last);
    /// assert_eq!(BackwardsTarget::parse("all", None).unwrap(), BackwardsTarget::All);
    /// assert_eq!(BackwardsTarget::parse("blog", Some("3")).unwrap(), BackwardsTarget::From("3".into()));
    /// assert!(BackwardsTarget::parse("all", Some("1")).is_err());
    /// ```
    pub fn parse(app_name: &str, migration_id: Option<&str>) -> Result<BackwardsTarget> {
        Ok(match (app_name == ALL, migration_id) {
            (_, Some(ALL)) | (true, None) => BackwardsTarget::All,
            (true, Some(id)) => return Err(all_with_id(id)),
            (false, None | Some("1")) => BackwardsTarget::Last,
            (false, Some(id)) => BackwardsTarget::From(id.to_owned()),
        })
    }
}

fn all_with_id(id: &str) -> Error {
    Error::Usage(format!(
        "a migration ID cannot be given with app `all` (got `{id}`); omit it, or name one app"
    ))
}
