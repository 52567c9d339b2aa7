//! Migrations embedded in a program by `ferry-build` ([`Embedded`]): the bytes of every file
//! of some apps' folders, parsed when the program asks for them, with the same code that reads
//! the folders, so that IDs and checksums are the CLI's.

use crate::error::Result;
use crate::project::files;
use crate::project::registry::{AppConfig, AppRegistry};

/// The migrations of some apps, embedded in the program at build time by `ferry-build` and
/// included with [`embedded_migrations!`](crate::embedded_migrations). Nothing here touches
/// the disk: the files were read (and checked) by the build script; adding, editing or
/// removing a file rebuilds the program.
///
/// ```
/// use ferry_core::embedded::{Embedded, EmbeddedApp, EmbeddedFile};
/// // What `ferry_core::embedded_migrations!()` expands to, for one app with one file.
/// const SET: Embedded = Embedded::new(&[EmbeddedApp {
///     name: "users",
///     dir: "migrations/users",
///     depends_on: &[],
///     files: &[EmbeddedFile {
///         name: "1_create_users.sql",
///         path: "migrations/users/1_create_users.sql",
///         bytes: b"-- ferry:up\nCREATE TABLE users (id INT);\n-- ferry:down\nDROP TABLE users;\n",
///     }],
/// }]);
/// let registry = SET.registry().unwrap();
/// let users = registry.get("users").unwrap().migrations().unwrap();
/// assert_eq!(users[0].up.sql, "CREATE TABLE users (id INT);\n");
/// assert!(users[0].files.is_empty()); // `--clean` has nothing to delete
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    apps: &'static [EmbeddedApp],
}

/// One app of an [`Embedded`] set (written by `ferry-build`).
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedApp {
    /// The app's name.
    pub name: &'static str,
    /// Its folder as the build saw it (relative to the crate's manifest folder when inside
    /// it), for messages.
    pub dir: &'static str,
    /// The apps it depends on.
    pub depends_on: &'static [&'static str],
    /// Every `.sql` file of the folder.
    pub files: &'static [EmbeddedFile],
}

/// One embedded file (written by `ferry-build`).
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedFile {
    /// The file name.
    pub name: &'static str,
    /// The path as the build saw it, for messages (`migrations/users/1_x.sql:3`).
    pub path: &'static str,
    /// The file's bytes.
    pub bytes: &'static [u8],
}

impl Embedded {
    /// A set of embedded apps, in registry order.
    pub const fn new(apps: &'static [EmbeddedApp]) -> Embedded {
        Embedded { apps }
    }

    /// The embedded apps, as written by the build script.
    pub fn embedded_apps(&self) -> &'static [EmbeddedApp] {
        self.apps
    }

    /// The apps with their migrations parsed ([`AppConfig::embedded`]), in registry order.
    /// Errors are the loader's (the build script already refused any).
    pub fn apps(&self) -> Result<Vec<AppConfig>> {
        self.apps
            .iter()
            .map(|app| {
                let migrations = files::from_memory(
                    app.dir,
                    app.files.iter().map(|f| (f.name, f.path, f.bytes)),
                )?;
                Ok(AppConfig::embedded(app.name, migrations)
                    .depends_on(app.depends_on.iter().copied()))
            })
            .collect()
    }

    /// The apps as a validated [`AppRegistry`], ready for a [`Migrator`](crate::Migrator).
    pub fn registry(&self) -> Result<AppRegistry> {
        AppRegistry::new(self.apps()?)
    }
}
