//! The CLI suite shared by every backend: each case is a function of the backend, and the
//! `backends!` macro instantiates it once per backend (`sqlite::`, `postgres::`, `mysql::`,
//! and `pgbouncer::`: PostgreSQL through a transaction-mode PgBouncer). The cases are split by topic
//! into the files below; each file lists its cases in its own `backends!`.

macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $case() { super::$case(super::Backend::Sqlite) } )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $( #[test] fn $case() { super::$case(super::Backend::Postgres) } )*
        }
        #[cfg(feature = "mysql")]
        mod mysql {
            $( #[test] fn $case() { super::$case(super::Backend::Mysql) } )*
        }
        #[cfg(feature = "postgres")]
        mod pgbouncer {
            $( #[test] fn $case() { super::$case(super::Backend::PgBouncer) } )*
        }
    };
}

mod atomic;
mod commands;
mod failures;
mod lock;
mod rules;
mod session;
mod verify;

use crate::support::Project;

/// Three migrations: `users` 1 and 2, then `blog` 3.
fn three(p: &Project) {
    p.table_migration("users", "1", "users");
    p.table_migration("users", "2", "profiles");
    p.table_migration("blog", "3", "posts");
}

/// SQLite: with foreign keys on, as ferry's connection begins, deleting the parent row
/// deletes the child row, and the same id can be inserted again; with them off, it cannot.
const CASCADE: &str = "-- ferry:up\nCREATE TABLE sc (id INTEGER PRIMARY KEY, p INTEGER REFERENCES sp (id) ON DELETE CASCADE);\nINSERT INTO sp VALUES (1);\nINSERT INTO sc VALUES (1, 1);\nDELETE FROM sp;\nINSERT INTO sc VALUES (1, NULL);\n-- ferry:down\nDROP TABLE sc;\n";
