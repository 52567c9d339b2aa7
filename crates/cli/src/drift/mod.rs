//! `ferry drift` (SPEC §12.1–12.4) and `ferry schema` (§12.6): the live database's schema
//! against the one its applied migrations give on a scratch database ([`crate::scratch`]),
//! and the live schema printed. `fleet.rs`: `drift --fleet` (§12.5), one replay per applied
//! history.

pub(crate) mod fleet;

use std::collections::HashMap;
use std::time::Duration;

use ferry_core::drift::{compare, read_live, LiveDatabase, Replay};
use ferry_core::schema::{Difference, Schema};
use ferry_core::{Config, Driver, LockOptions, Migration, Migrator, TableName};

use crate::args::{DriftArgs, Format, GlobalOpts, SchemaArgs, SchemaFormat};
use crate::exit::{Ending, Failure};
use crate::render::{out, Style};

/// What drift found on one database.
#[derive(Debug)]
pub(crate) struct DriftReport {
    /// How many migrations were replayed.
    pub replayed: usize,
    /// `(app, ID)` of the applied migrations whose file changed since: replayed as it is now.
    pub changed: Vec<(String, String)>,
    /// Expected (before) against actual (after).
    pub differences: Vec<Difference>,
}

impl DriftReport {
    /// The JSON object of SPEC §12.4.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "drift": !self.differences.is_empty(),
            "replayed": self.replayed,
            "changed": self.changed.iter().map(|(app, id)| serde_json::json!({
                "app_name": app,
                "migration_id": id,
            })).collect::<Vec<_>>(),
            "differences": self.differences.iter().map(|d| serde_json::json!({
                "object": d.object,
                "name": d.name,
                "property": d.property,
                "expected": d.before,
                "actual": d.after,
            })).collect::<Vec<_>>(),
        })
    }

    /// The table: the changed files, then one line per difference.
    fn table(&self) -> String {
        let mut text = String::new();
        for (app, id) in &self.changed {
            text.push_str(&format!(
                "changed {app} {id}: the file was edited after it was applied; replayed as it is now\n"
            ));
        }
        for d in &self.differences {
            text.push_str(&format!("{d}\n"));
        }
        text
    }
}

/// Every app's migrations by app name; a file error stops everything (exit 2).
pub(crate) fn read_files(config: &Config) -> Result<HashMap<String, Vec<Migration>>, Failure> {
    let mut files = HashMap::new();
    for app in config.registry.apps() {
        files.insert(app.name.clone(), app.migrations()?);
    }
    Ok(files)
}

/// Connect to the database of `url` with the run's lock options and lock timeout.
pub(crate) async fn connect(
    url: &str,
    table: TableName,
    g: &GlobalOpts,
    config: &Config,
) -> Result<Migrator, Failure> {
    Connect::new(g, config).open(url, table).await
}

/// What a connection to a live database is opened with: owned, for a task of its own.
struct Connect {
    registry: ferry_core::AppRegistry,
    lock: LockOptions,
    lock_timeout: Duration,
}

impl Connect {
    fn new(g: &GlobalOpts, config: &Config) -> Self {
        Connect {
            registry: config.registry.clone(),
            lock: LockOptions::new(g.lock.or(config.lock).unwrap_or_default())
                .with_lease(config.lock_lease.unwrap_or(LockOptions::DEFAULT_LEASE)),
            lock_timeout: Duration::from_secs_f64(g.lock_timeout),
        }
    }

    async fn open(self, url: &str, table: TableName) -> Result<Migrator, Failure> {
        let mut driver = crate::drivers::driver_for_url(url, table)
            .await
            .map_err(|e| {
                let message = ferry_core::driver::redact_url(&e.to_string());
                match e.kind {
                    ferry_core::DriverErrorKind::Config => Failure::Usage(message),
                    _ => Failure::Failed(message),
                }
            })?;
        driver.set_lock_options(self.lock);
        Ok(Migrator::new(self.registry, driver).with_lock_timeout(self.lock_timeout))
    }
}

/// The expected schema of `replay`, on a new scratch database on the server of `base`.
pub(crate) async fn expected_schema(
    replay: &Replay,
    base: &str,
    table: TableName,
    style: Style,
) -> Result<Schema, Failure> {
    let home = home_schema(base, &table);
    crate::scratch::with_scratch(base, "ferry_drift", false, table, style, async |mut d| {
        replay_on(d.as_mut(), home.as_deref(), replay).await
    })
    .await
}

/// On PostgreSQL the live snapshot holds the schema a `schema.table` tracking table lives
/// in: the scratch database gets it too (this statement). On MySQL the first part names
/// another database, which the scratch connection must not touch.
fn home_schema(base: &str, table: &TableName) -> Option<String> {
    table
        .schema()
        .filter(|_| {
            ferry_core::driver::url::Backend::of_url(base)
                == Some(ferry_core::driver::url::Backend::Postgres)
        })
        .map(|schema| {
            format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                ferry_core::driver::url::quote_ident(schema, '"')
            )
        })
}

/// Replay on the scratch database `d`, after creating the home schema (`home`).
async fn replay_on(
    d: &mut dyn Driver,
    home: Option<&str>,
    replay: &Replay,
) -> Result<Schema, Failure> {
    if let Some(sql) = home {
        d.execute(sql, false).await.map_err(|e| {
            Failure::Failed(format!(
                "preparing the scratch database: {}",
                ferry_core::driver::redact_url(&e.to_string())
            ))
        })?;
    }
    replay.run(d).await.map_err(Failure::from)
}

/// Compare what was read of a live database with its expected schema.
pub(crate) fn report(
    live: &LiveDatabase,
    replay: &Replay,
    expected: &Schema,
    config: &Config,
) -> Result<DriftReport, Failure> {
    Ok(DriftReport {
        replayed: replay.steps.len(),
        changed: replay.changed.clone(),
        differences: compare(expected, &live.schema, &config.drift_ignore)?,
    })
}

/// Run `ferry drift` on the database of `url`.
pub(crate) async fn run(
    a: &DriftArgs,
    g: &GlobalOpts,
    config: &Config,
    url: &str,
    table: TableName,
    style: Style,
) -> Result<Ending, Failure> {
    let files = read_files(config)?;
    // The live read (under its lock) and the scratch database's creation overlap: the replay
    // waits for the live rows. An error of the live read (connecting, the lock, a dirty row,
    // a missing file) is the one reported, as when it came first; nothing is replayed then.
    let mut reading = Some(tokio::spawn({
        let connect = Connect::new(g, config);
        let (url, table) = (url.to_owned(), table.clone());
        async move {
            let mut live_db = connect.open(&url, table).await?;
            Ok::<_, Failure>(read_live(&mut live_db).await?)
        }
    }));
    let base = a.scratch_url.as_deref().unwrap_or(url);
    let home = home_schema(base, &table);
    let replayed =
        crate::scratch::with_scratch(base, "ferry_drift", false, table, style, async |mut d| {
            let Some(task) = reading.take() else {
                return Err(Failure::Failed("the live read was lost".into()));
            };
            let live = joined(task.await)?;
            let replay = Replay::plan(&live.applied, &files)?;
            for (app, id) in &replay.changed {
                style.warn(&format!(
                    "{app} {id}: the file changed after it was applied; replayed as it is now"
                ));
            }
            let expected = replay_on(d.as_mut(), home.as_deref(), &replay).await?;
            Ok((live, replay, expected))
        })
        .await;
    let (live, replay, expected) = match (replayed, reading) {
        (Ok(done), _) => done,
        (Err(e @ Failure::Interrupted(_)), task) => {
            if let Some(task) = task {
                task.abort();
            }
            return Err(e);
        }
        // The scratch database could not be made before the live read ended: its error
        // comes second.
        (Err(e), Some(task)) => {
            joined(task.await)?;
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    let report = report(&live, &replay, &expected, config)?;
    match a.format {
        Format::Json => out(&format!("{}\n", report.json())),
        Format::Table => out(&report.table()),
    }
    let n = report.differences.len();
    if n > 0 {
        return Err(Failure::Failed(format!(
            "drift: {n} difference{} between the database and its {} applied migration{}",
            if n == 1 { "" } else { "s" },
            report.replayed,
            if report.replayed == 1 { "" } else { "s" }
        )));
    }
    style.info(&format!(
        "no drift: the database matches its {} applied migration{}",
        report.replayed,
        if report.replayed == 1 { "" } else { "s" }
    ));
    Ok(Ending::Printed)
}

/// The outcome of a spawned live read.
fn joined<T>(task: Result<Result<T, Failure>, tokio::task::JoinError>) -> Result<T, Failure> {
    task.unwrap_or_else(|e| Err(Failure::Failed(format!("reading the database: {e}"))))
}

/// Run `ferry schema` on the database of `url`: its snapshot, read without a lock and
/// without writing.
pub(crate) async fn schema(
    a: &SchemaArgs,
    url: &str,
    table: TableName,
    g: &GlobalOpts,
    config: &Config,
) -> Result<Ending, Failure> {
    let mut m = connect(url, table, g, config).await?;
    let driver: &mut dyn Driver = m.driver_mut();
    let schema = driver.snapshot().await.map_err(|e| {
        Failure::Failed(format!(
            "reading the database's schema: {}",
            ferry_core::driver::redact_url(&e.to_string())
        ))
    })?;
    match a.format {
        SchemaFormat::Text => out(&schema_text(&schema)),
        SchemaFormat::Json => out(&format!("{}\n", schema_json(&schema))),
    }
    Ok(Ending::Printed)
}

/// One line per object property, `<kind> <name>: <property> <value>`, sorted by kind, name
/// and property (an object without properties is one line `<kind> <name>`); a value's line
/// breaks and backslashes are escaped (`\n`, `\r`, `\\`), so that each line stands alone.
pub(crate) fn schema_text(schema: &Schema) -> String {
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
    };
    let mut text = String::new();
    for (kind, name, props) in schema.objects() {
        let mut any = false;
        for (property, value) in props.iter() {
            any = true;
            text.push_str(&format!(
                "{kind} {}: {property} {}\n",
                escape(name),
                escape(value)
            ));
        }
        if !any {
            text.push_str(&format!("{kind} {}\n", escape(name)));
        }
    }
    text
}

/// `{"objects":[{"object","name","properties":{..}}]}`, sorted as the text is.
pub(crate) fn schema_json(schema: &Schema) -> serde_json::Value {
    let objects: Vec<_> = schema
        .objects()
        .map(|(kind, name, props)| {
            let properties: serde_json::Map<String, serde_json::Value> = props
                .iter()
                .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
                .collect();
            serde_json::json!({ "object": kind, "name": name, "properties": properties })
        })
        .collect();
    serde_json::json!({ "objects": objects })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_text_is_one_escaped_line_per_property() {
        let mut s = Schema::default();
        s.add("view", "v").set("definition", "SELECT 1\nFROM t\\x");
        s.add("table", "t");
        s.add("column", "t.id")
            .set("type", "integer")
            .set("nullable", "no");
        assert_eq!(
            schema_text(&s),
            "column t.id: nullable no\ncolumn t.id: type integer\ntable t\nview v: definition SELECT 1\\nFROM t\\\\x\n"
        );
        let json = schema_json(&s);
        assert_eq!(json["objects"][0]["properties"]["type"], "integer");
        assert_eq!(json["objects"][1]["name"], "t");
    }
}
