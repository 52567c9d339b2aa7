//! [`TableName`]: the tracking table's name, validated, and the names derived from it (lock
//! keys, lock names, the lease table).

use std::fmt;

/// A tracking table name, validated so that it can be quoted into SQL safely:
/// `name` or `schema.name`, each part `[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    schema: Option<String>,
    name: String,
}

impl TableName {
    /// The default name, `ferry_migrations`.
    pub const DEFAULT: &'static str = "ferry_migrations";

    /// Parse and validate a table name.
    ///
    /// ```
    /// use ferry_core::TableName;
    /// let t = TableName::parse("ops.ferry_migrations").unwrap();
    /// assert_eq!(t.schema(), Some("ops"));
    /// assert_eq!(t.name(), "ferry_migrations");
    /// assert!(TableName::parse("bad name").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<TableName, String> {
        let (schema, name) = match text.split_once('.') {
            Some((s, n)) => (Some(s), n),
            None => (None, text),
        };
        if let Some(long) = [Some(name), schema]
            .into_iter()
            .flatten()
            .find(|p| p.len() > 63)
        {
            return Err(format!(
                "invalid tracking table name: `{}...` is {} characters long; the limit is 63 for each of its parts",
                long.chars().take(20).collect::<String>(),
                long.chars().count()
            ));
        }
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 63
                && part
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !valid(name) || schema.is_some_and(|s| !valid(s)) {
            return Err(format!(
                "invalid tracking table name `{text}`: use letters, digits and `_` (optionally `schema.table`), starting with a letter or `_`"
            ));
        }
        Ok(TableName {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        })
    }

    /// The schema part, if one was given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table part.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A stable 64-bit key derived from the full name, for advisory locks.
    pub fn lock_key(&self) -> i64 {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("ferry:{self}").as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(bytes)
    }

    /// The longest name [`TableName::lock_name`] returns: what MySQL and MariaDB accept for
    /// `GET_LOCK`.
    pub const MAX_LOCK_NAME: usize = 64;

    /// A readable lock name for named locks (MySQL `GET_LOCK`): `ferry:<database>.<table>`,
    /// where `database` is the database holding the table, or, past
    /// [`TableName::MAX_LOCK_NAME`] characters, `ferry:` and the start of that text's
    /// [`crate::checksum`].
    ///
    /// ```
    /// use ferry_core::TableName;
    /// let table = TableName::default();
    /// assert_eq!(table.lock_name("app"), "ferry:app.ferry_migrations");
    /// assert_eq!(table.lock_name(&"d".repeat(64)).len(), TableName::MAX_LOCK_NAME);
    /// ```
    pub fn lock_name(&self, database: &str) -> String {
        const PREFIX: &str = "ferry:";
        let full = format!("{PREFIX}{database}.{}", self.name);
        if full.len() <= Self::MAX_LOCK_NAME {
            return full;
        }
        let mut hashed = crate::text::checksum(&full);
        hashed.truncate(Self::MAX_LOCK_NAME - PREFIX.len());
        format!("{PREFIX}{hashed}")
    }
}

impl TableName {
    /// The lease lock's table beside this one: `<name>_lock` in the same schema, or, past 63
    /// characters, the name's start, a hash of the whole name and `_lock`.
    ///
    /// ```
    /// use ferry_core::TableName;
    /// let t = TableName::parse("ops.ferry_migrations").unwrap();
    /// assert_eq!(t.lease_table().to_string(), "ops.ferry_migrations_lock");
    /// let long = TableName::parse(&"t".repeat(63)).unwrap().lease_table();
    /// assert_eq!(long.name().len(), 63);
    /// assert!(long.name().ends_with("_lock"));
    /// ```
    pub fn lease_table(&self) -> TableName {
        const SUFFIX: &str = "_lock";
        let name = if self.name.len() + SUFFIX.len() <= 63 {
            format!("{}{SUFFIX}", self.name)
        } else {
            let hash = &crate::text::checksum(&self.name)[..8];
            format!("{}_{hash}{SUFFIX}", &self.name[..63 - SUFFIX.len() - 9])
        };
        TableName {
            schema: self.schema.clone(),
            name,
        }
    }
}

impl Default for TableName {
    fn default() -> Self {
        TableName {
            schema: None,
            name: Self::DEFAULT.to_owned(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_fit_mysql() {
        let table = TableName::default();
        assert_eq!(table.lock_name("app"), "ferry:app.ferry_migrations");
        assert_eq!(table.lock_name(""), "ferry:.ferry_migrations");
        let long_table = TableName::parse(&"t".repeat(63)).unwrap();
        let long = long_table.lock_name(&"d".repeat(64));
        assert_eq!(long.len(), TableName::MAX_LOCK_NAME);
        assert!(long.starts_with("ferry:"));
        assert_eq!(long, long_table.lock_name(&"d".repeat(64)));
        assert_ne!(long, long_table.lock_name(&"e".repeat(64)));
        // The same name the MySQL driver derived before it used `checksum`.
        use sha2::{Digest, Sha256};
        let full = format!("ferry:{}.{}", "d".repeat(64), "t".repeat(63));
        let hex: String = Sha256::digest(full.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(long, format!("ferry:{}", &hex[..58]));
        // Exactly 64 characters stays readable.
        let fits = TableName::parse(&"t".repeat(63 - 6)).unwrap();
        assert_eq!(fits.lock_name("").len(), 64);
        assert!(fits.lock_name("").ends_with(&"t".repeat(57)));
    }
}
