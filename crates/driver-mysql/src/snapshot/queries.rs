//! The catalog queries of a read ([`super`]): one per `information_schema` view, and the
//! listing and event count of change tracking.

pub(super) const TABLES: &str = "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION \
     FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()";

pub(super) const COLUMNS: &str = "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, \
     COLUMN_DEFAULT, EXTRA, GENERATION_EXPRESSION, COLLATION_NAME \
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()";

/// `NULL AS EXPRESSION` becomes `EXPRESSION` where the server has the column.
pub(super) const STATISTICS: &str = "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, \
     COLUMN_NAME, COLLATION, SUB_PART, INDEX_TYPE, NULL AS EXPRESSION \
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()";

/// The foreign keys' columns; their rules come from [`RULES`] (a join of the two views makes
/// MariaDB read every database's constraints).
pub(super) const FOREIGN_KEYS: &str = "SELECT TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION, \
     COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
     FROM information_schema.KEY_COLUMN_USAGE \
     WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL";

/// The foreign keys' rules.
pub(super) const RULES: &str = "SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE \
     FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()";

/// MariaDB's check constraints are named per table, and its view has the table.
pub(super) const MARIADB_CHECKS: &str = "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE \
     FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()";

/// MySQL's check constraints are named per database; the table comes from TABLE_CONSTRAINTS.
pub(super) const MYSQL_CHECKS: &str = "SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, cc.CHECK_CLAUSE \
     FROM information_schema.TABLE_CONSTRAINTS tc \
     JOIN information_schema.CHECK_CONSTRAINTS cc \
     ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
     WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE = 'CHECK'";

pub(super) const VIEWS: &str = "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION \
     FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()";

pub(super) const TRIGGERS: &str = "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, \
     EVENT_MANIPULATION, ACTION_ORIENTATION, ACTION_STATEMENT \
     FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()";

/// Each routine with each of its parameters (position 0, a function's result, left out).
pub(super) const ROUTINES: &str = "SELECT r.ROUTINE_TYPE, r.ROUTINE_NAME, r.DTD_IDENTIFIER, \
     r.ROUTINE_DEFINITION, r.IS_DETERMINISTIC, r.SQL_DATA_ACCESS, r.SECURITY_TYPE, \
     p.ORDINAL_POSITION, p.PARAMETER_MODE, p.PARAMETER_NAME, p.DTD_IDENTIFIER \
     FROM information_schema.ROUTINES r LEFT JOIN information_schema.PARAMETERS p \
     ON p.SPECIFIC_SCHEMA = r.ROUTINE_SCHEMA AND p.SPECIFIC_NAME = r.SPECIFIC_NAME \
     AND p.ROUTINE_TYPE = r.ROUTINE_TYPE AND p.ORDINAL_POSITION > 0 \
     WHERE r.ROUTINE_SCHEMA = DATABASE() AND r.ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE')";

/// What exists now, for [`MysqlDriver::changed_owners`]: the names of the tables (views,
/// sequences: TABLE_TYPE would make MariaDB open each table) and routines, and the
/// `sql_mode`.
pub(super) const LISTING: &str = "SELECT 'TABLE', TABLE_NAME FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA = DATABASE() \
     UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES \
     WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE') \
     UNION ALL SELECT 'MODE', @@sql_mode";

/// How many events may change this database: those in it, and those whose body names it.
pub(super) const EVENTS: &str = "SELECT COUNT(*) FROM information_schema.EVENTS \
     WHERE EVENT_SCHEMA = DATABASE() OR LOCATE(DATABASE(), EVENT_DEFINITION) > 0";
