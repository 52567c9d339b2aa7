//! The catalog queries of a snapshot ([`super`]): one per family of objects, the members
//! query, and the SQL fragments they share.

use super::OwnerKind;

/// One family's query, and how a read of some owners filters it.
pub(super) struct Family {
    pub(super) sql: String,
    /// The owners' kind and the column that names the owner, for a read of some owners;
    /// `None` for the families read whole only (schemas, extensions).
    pub(super) scope: Option<(OwnerKind, &'static str)>,
}

impl Family {
    /// The query restricted to the owners in `$2` (an `oid[]`).
    pub(super) fn scoped_sql(&self) -> String {
        let (kind, column) = self.scope.expect("a family read in part");
        // A relation's family filters the relation too, so that the plan looks it up by its
        // index instead of scanning `pg_class`.
        match kind {
            OwnerKind::Relation if column != "c.oid" => {
                format!("{} AND c.oid = ANY($2) AND {column} = ANY($2)", self.sql)
            }
            _ => format!("{} AND {column} = ANY($2)", self.sql),
        }
    }
}

/// The families, in order: schemas and extensions first (read whole only).
pub(super) fn families() -> Vec<Family> {
    let scopes = [
        None,
        None,
        Some((OwnerKind::Relation, "c.oid")),
        Some((OwnerKind::Relation, "a.attrelid")),
        Some((OwnerKind::Relation, "co.conrelid")),
        Some((OwnerKind::Relation, "i.indrelid")),
        Some((OwnerKind::Relation, "t.tgrelid")),
        Some((OwnerKind::Function, "p.oid")),
        Some((OwnerKind::Type, "t.oid")),
    ];
    queries()
        .into_iter()
        .zip(scopes)
        .map(|(sql, scope)| Family { sql, scope })
        .collect()
}

/// The members query: `(classid, objid, owner)` of each index, constraint, trigger, default,
/// rule, row type and array type of a user relation or type, and `(pg_proc, oid, proname)`
/// of each function or procedure; `scoped`: only those of the relations in `$1`, the types in
/// `$2` and the functions in `$3` (all `oid[]`).
pub(super) fn members(scoped: bool) -> String {
    let user = user_schema("n");
    let only = |column: &str, param: &str| {
        if scoped {
            format!(" AND {column} = ANY({param})")
        } else {
            String::new()
        }
    };
    // A relation's member filters the relation too, for the plan to use its index.
    let only_relation = |column: &str| {
        if scoped {
            format!(" AND c.oid = ANY($1) AND {column} = ANY($1)")
        } else {
            String::new()
        }
    };
    // The members a relation owns: (catalog, alias, member column, the relation's column,
    // condition), each joined to its relation for the user-schema filter. A relation's
    // internal triggers are the foreign keys' (also those on the table a key references):
    // they belong to the key's table, and go with the key. The parents of a partition or an
    // inheritance child (`pg_inherits`) are not members: they become its part's
    // `depends_on` ([`PostgresDriver::collect`]), since detaching a partition is logged for
    // the parent only.
    let of_relations = [
        ("pg_class", "i", "indexrelid", "i.indrelid", "true"),
        ("pg_constraint", "co", "oid", "co.conrelid", "true"),
        (
            "pg_trigger",
            "tg",
            "oid",
            "tg.tgrelid",
            "NOT tg.tgisinternal",
        ),
        ("pg_trigger", "tg", "oid", "fk.conrelid", "tg.tgisinternal"),
        ("pg_attrdef", "ad", "oid", "ad.adrelid", "true"),
        ("pg_rewrite", "rw", "oid", "rw.ev_class", "true"),
        ("pg_inherits", "ih", "inhparent", "ih.inhrelid", "true"),
    ]
    .map(|(catalog, alias, member, relation, condition)| {
        let table = if catalog == "pg_class" {
            "pg_index"
        } else {
            catalog
        };
        let key = if relation.starts_with("fk.") {
            " JOIN pg_catalog.pg_constraint fk ON fk.oid = tg.tgconstraint"
        } else {
            ""
        };
        format!(
            "SELECT 'pg_catalog.{catalog}'::regclass::oid, {alias}.{member}, \
             'r' || {relation} FROM pg_catalog.{table} {alias}{key} \
             JOIN pg_catalog.pg_class c ON c.oid = {relation} \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE {condition} AND {user}{}",
            only_relation(relation)
        )
    });
    let others = [
        // Row types of relations, and their array types (a composite type's owner is the
        // type, below).
        format!(
            "SELECT 'pg_catalog.pg_type'::regclass::oid, x.oid, 'r' || c.oid \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_type rt ON rt.oid = c.reltype \
             CROSS JOIN LATERAL (VALUES (rt.oid), (rt.typarray)) AS x(oid) \
             WHERE c.relkind <> 'c' AND x.oid <> 0 AND {user}{}",
            only("c.oid", "$1")
        ),
        // Constraints of domains, array types of types, the relation behind a composite type.
        format!(
            "SELECT 'pg_catalog.pg_constraint'::regclass::oid, co.oid, 't' || co.contypid \
             FROM pg_catalog.pg_constraint co \
             JOIN pg_catalog.pg_type t ON t.oid = co.contypid \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE {user}{}",
            only("co.contypid", "$2")
        ),
        format!(
            "SELECT 'pg_catalog.pg_type'::regclass::oid, t.typarray, 't' || t.oid \
             FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE t.typarray <> 0 AND t.typrelid = 0 AND {user}{}",
            only("t.oid", "$2")
        ),
        format!(
            "SELECT 'pg_catalog.pg_class'::regclass::oid, t.typrelid, 't' || t.oid \
             FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE t.typtype = 'c' AND {user} AND EXISTS (SELECT FROM pg_catalog.pg_class r \
             WHERE r.oid = t.typrelid AND r.relkind = 'c'){}",
            only("t.oid", "$2")
        ),
        // Functions and their names (an aggregate too: its name resolves calls as well).
        format!(
            "SELECT 'pg_catalog.pg_proc'::regclass::oid, p.oid, p.proname::text \
             FROM pg_catalog.pg_proc p \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE {user}{}",
            only("p.oid", "$3")
        ),
    ];
    of_relations
        .into_iter()
        .chain(others)
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// Runs of whitespace as one space, without leading or trailing whitespace: definitions are
/// compared as text, and their layout is not part of the schema.
pub(super) fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `name` qualified by the schema of the `pg_namespace` alias `ns`, unless that schema is the
/// current one (`$1`).
pub(super) fn qualified(ns: &str, name: &str) -> String {
    format!("(CASE WHEN {ns}.nspname = $1 THEN '' ELSE {ns}.nspname || '.' END || {name})")
}

/// `sql` (a family's or the members query) reading the objects of schema `tenant` only, in
/// place of those of every user schema: a tenant's snapshot ([`ferry_core::Driver::use_schema`],
/// SPEC §11) holds only what is in its schema once the callers keep its objects
/// ([`ferry_core::drift::in_schema`]), so reading the others would cost what the whole
/// database holds, once per tenant. The names and properties are those a whole read gives.
pub(super) fn in_tenant(sql: &str, tenant: &str) -> String {
    // An escape string: the same whatever `standard_conforming_strings` says.
    let literal = format!("E'{}'", tenant.replace('\\', "\\\\").replace('\'', "''"));
    sql.replace(
        &user_schema("n"),
        &format!("{} AND n.nspname = {literal}", user_schema("n")),
    )
}

/// The condition that the `pg_namespace` alias `ns` is a user schema.
pub(super) fn user_schema(ns: &str) -> String {
    format!("{ns}.nspname <> 'information_schema' AND {ns}.nspname NOT LIKE 'pg\\_%'")
}

/// The condition that the object `oid` of catalog `catalog` does not belong to an extension.
pub(super) fn not_in_extension(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT FROM pg_catalog.pg_depend x \
         WHERE x.classid = 'pg_catalog.{catalog}'::regclass AND x.objid = {oid} AND x.deptype = 'e')"
    )
}

/// A referential action code of `pg_constraint` in words.
pub(super) fn action(code: &str) -> String {
    format!(
        "CASE {code} WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade' \
         WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' END"
    )
}

/// The names of the columns numbered `keys` (an `int2[]`) of relation `rel`, in order.
pub(super) fn column_list(keys: &str, rel: &str) -> String {
    format!(
        "(SELECT string_agg(a.attname, ', ' ORDER BY k.i) \
         FROM unnest({keys}) WITH ORDINALITY AS k(num, i) \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.num)"
    )
}

/// The catalog queries, one per family of objects; `$1` is the current schema.
pub(super) fn queries() -> Vec<String> {
    let table_name = qualified("n", "c.relname");
    let user = user_schema("n");
    vec![
        // Schemas.
        format!(
            "SELECT 'schema'::text, n.nspname::text, ARRAY[]::text[], 'n' || n.oid \
             FROM pg_catalog.pg_namespace n WHERE {user} AND {}",
            not_in_extension("pg_namespace", "n.oid")
        ),
        // Extensions.
        "SELECT 'extension'::text, e.extname::text, ARRAY['version', e.extversion]::text[], 'e' || e.oid \
         FROM pg_catalog.pg_extension e"
            .to_owned(),
        // Relations: tables, views, materialised views, sequences (not those of identity
        // columns).
        format!(
            "SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
             WHEN 'S' THEN 'sequence' ELSE 'table' END::text, {table_name}::text, \
             CASE \
             WHEN c.relkind IN ('v', 'm') THEN ARRAY['definition', pg_catalog.pg_get_viewdef(c.oid), \
               'options', array_to_string(c.reloptions, ', ')] \
             WHEN c.relkind = 'S' THEN ARRAY['type', pg_catalog.format_type(s.seqtypid, NULL), \
               'start', s.seqstart::text, 'increment', s.seqincrement::text, \
               'min', s.seqmin::text, 'max', s.seqmax::text, 'cache', s.seqcache::text, \
               'cycle', CASE WHEN s.seqcycle THEN 'yes' ELSE 'no' END, \
               'owned by', (SELECT {owner}::text || '.' || a.attname \
                 FROM pg_catalog.pg_depend d \
                 JOIN pg_catalog.pg_class o ON o.oid = d.refobjid \
                 JOIN pg_catalog.pg_namespace ons ON ons.oid = o.relnamespace \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = o.oid AND a.attnum = d.refobjsubid \
                 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid \
                 AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a' LIMIT 1)] \
             ELSE ARRAY['options', array_to_string(c.reloptions, ', '), \
               'unlogged', CASE WHEN c.relpersistence = 'u' THEN 'yes' END, \
               'partition key', CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END, \
               'partition of', (SELECT {parent}::text || ' ' || pg_catalog.pg_get_expr(c.relpartbound, c.oid) \
                 FROM pg_catalog.pg_inherits i \
                 JOIN pg_catalog.pg_class p ON p.oid = i.inhparent \
                 JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace \
                 WHERE c.relispartition AND i.inhrelid = c.oid)] \
             END::text[], 'r' || c.oid \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
             WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND {user} AND {ext} \
             AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_catalog.pg_depend d \
               WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid \
               AND d.deptype = 'i'))",
            owner = qualified("ons", "o.relname"),
            parent = qualified("pn", "p.relname"),
            ext = not_in_extension("pg_class", "c.oid"),
        ),
        // Columns of tables. A collation is named only when it is not the type's own.
        format!(
            "SELECT 'column'::text, ({table_name} || '.' || a.attname)::text, ARRAY[\
             'type', pg_catalog.format_type(a.atttypid, a.atttypmod), \
             'nullable', CASE WHEN a.attnotnull THEN 'no' ELSE 'yes' END, \
             'default', CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END, \
             'generated', CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END, \
             'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END, \
             'collation', CASE WHEN a.attcollation <> t.typcollation THEN co.collname::text END\
             ]::text[], 'r' || c.oid \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
             LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation \
             WHERE c.relkind IN ('r', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped \
             AND {user} AND {ext}",
            ext = not_in_extension("pg_class", "c.oid"),
        ),
        // Table constraints, but those cloned onto partitions from their parent's.
        format!(
            "SELECT CASE co.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint' \
             WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check constraint' \
             ELSE 'exclusion constraint' END::text, \
             CASE WHEN co.contype = 'p' THEN {table_name} \
             ELSE {table_name} || '.' || co.conname END::text, \
             CASE co.contype \
             WHEN 'p' THEN ARRAY['table', {table_name}, 'columns', {columns}] \
             WHEN 'u' THEN ARRAY['table', {table_name}, 'columns', {columns}] \
             WHEN 'f' THEN ARRAY['table', {table_name}, 'columns', {columns}, \
               'target', {target} || '(' || {target_columns} || ')', \
               'on delete', {on_delete}, 'on update', {on_update}] \
             WHEN 'c' THEN ARRAY['table', {table_name}, \
               'expression', pg_catalog.pg_get_expr(co.conbin, co.conrelid)] \
             ELSE ARRAY['table', {table_name}, \
               'definition', pg_catalog.pg_get_constraintdef(co.oid, true)] \
             END::text[], 'r' || c.oid \
             FROM pg_catalog.pg_constraint co \
             JOIN pg_catalog.pg_class c ON c.oid = co.conrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_catalog.pg_class r ON r.oid = co.confrelid \
             LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace \
             WHERE co.contype IN ('p', 'u', 'f', 'c', 'x') AND co.conparentid = 0 AND {user} \
             AND {ext}",
            columns = column_list("co.conkey", "co.conrelid"),
            target = qualified("rn", "r.relname"),
            target_columns = column_list("co.confkey", "co.confrelid"),
            on_delete = action("co.confdeltype"),
            on_update = action("co.confupdtype"),
            ext = not_in_extension("pg_class", "c.oid"),
        ),
        // Indexes, but those that implement a constraint. Key columns (or expressions) in
        // order, with their direction and a null ordering that is not the default.
        format!(
            "SELECT 'index'::text, {index_name}::text, ARRAY[\
             'table', {table_name}, \
             'columns', (SELECT string_agg(pg_catalog.pg_get_indexdef(i.indexrelid, k + 1, true) \
               || CASE WHEN i.indoption[k] & 1 = 1 \
                  THEN ' desc' || CASE WHEN i.indoption[k] & 2 = 0 THEN ' nulls last' ELSE '' END \
                  ELSE CASE WHEN i.indoption[k] & 2 = 2 THEN ' nulls first' ELSE '' END END, \
               ', ' ORDER BY k) FROM generate_series(0, i.indnkeyatts - 1) AS k), \
             'include', (SELECT string_agg(pg_catalog.pg_get_indexdef(i.indexrelid, k + 1, true), \
               ', ' ORDER BY k) FROM generate_series(i.indnkeyatts, i.indnatts - 1) AS k), \
             'unique', CASE WHEN i.indisunique THEN 'yes' ELSE 'no' END, \
             'predicate', pg_catalog.pg_get_expr(i.indpred, i.indrelid, true), \
             'method', am.amname::text\
             ]::text[], 'r' || c.oid \
             FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_am am ON am.oid = ic.relam \
             WHERE {user} AND {ext} \
             AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint co \
               WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid \
               AND co.contype IN ('p', 'u', 'x'))",
            index_name = qualified("n", "ic.relname"),
            ext = not_in_extension("pg_class", "c.oid"),
        ),
        // Triggers, named by table (PostgreSQL's trigger names are unique per table only).
        format!(
            "SELECT 'trigger'::text, ({table_name} || '.' || t.tgname)::text, ARRAY[\
             'table', {table_name}, \
             'timing', CASE WHEN t.tgtype & 2 = 2 THEN 'before' \
               WHEN t.tgtype & 64 = 64 THEN 'instead of' ELSE 'after' END, \
             'event', concat_ws(' or ', CASE WHEN t.tgtype & 4 = 4 THEN 'insert' END, \
               CASE WHEN t.tgtype & 16 = 16 THEN 'update' END, \
               CASE WHEN t.tgtype & 8 = 8 THEN 'delete' END, \
               CASE WHEN t.tgtype & 32 = 32 THEN 'truncate' END), \
             'definition', pg_catalog.pg_get_triggerdef(t.oid, true), \
             'enabled', CASE t.tgenabled WHEN 'D' THEN 'no' WHEN 'R' THEN 'replica' \
               WHEN 'A' THEN 'always' END\
             ]::text[], 'r' || c.oid \
             FROM pg_catalog.pg_trigger t \
             JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT t.tgisinternal AND {user} AND {ext}",
            ext = not_in_extension("pg_class", "c.oid"),
        ),
        // Functions and procedures (aggregates have no `pg_get_functiondef`).
        format!(
            "SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END::text, \
             ({name} || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')')::text, \
             ARRAY['definition', pg_catalog.pg_get_functiondef(p.oid)]::text[], 'p' || p.oid \
             FROM pg_catalog.pg_proc p \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.prokind IN ('f', 'p', 'w') AND {user} AND {ext}",
            name = qualified("n", "p.proname"),
            ext = not_in_extension("pg_proc", "p.oid"),
        ),
        // Enum, domain, composite and range types.
        format!(
            "SELECT CASE t.typtype WHEN 'e' THEN 'enum type' WHEN 'd' THEN 'domain' \
             WHEN 'c' THEN 'composite type' ELSE 'range type' END::text, {name}::text, \
             CASE t.typtype \
             WHEN 'e' THEN ARRAY['values', (SELECT string_agg(e.enumlabel::text, ', ' \
               ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)] \
             WHEN 'd' THEN ARRAY['type', pg_catalog.format_type(t.typbasetype, t.typtypmod), \
               'nullable', CASE WHEN t.typnotnull THEN 'no' ELSE 'yes' END, \
               'default', t.typdefault, \
               'check', (SELECT string_agg(pg_catalog.pg_get_constraintdef(co.oid, true), ' and ' \
                 ORDER BY co.conname) FROM pg_catalog.pg_constraint co \
                 WHERE co.contypid = t.oid AND co.contype = 'c')] \
             WHEN 'c' THEN ARRAY['attributes', (SELECT string_agg(a.attname || ' ' \
               || pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) \
               FROM pg_catalog.pg_attribute a \
               WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)] \
             ELSE ARRAY['subtype', (SELECT pg_catalog.format_type(r.rngsubtype, NULL) \
               FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid)] \
             END::text[], 't' || t.oid \
             FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid \
             WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c')) \
             AND {user} AND {ext}",
            name = qualified("n", "t.typname"),
            ext = not_in_extension("pg_type", "t.oid"),
        ),
    ]
}
