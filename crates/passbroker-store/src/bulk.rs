//! Groups the identity and account upserts of a write batch into multi-row statements, so
//! that bulk imports cost one statement per few hundred rows instead of one per row.

use crate::sqlite::rows::to_json;
use crate::WriteOp;
use passbroker_core::account::Account;
use passbroker_core::identity::Identity;
use sqlx::{Database, Encode, QueryBuilder, Type};
use std::collections::HashSet;

/// Rows per multi-row statement: 7 columns each keeps a statement far below SQLite's
/// (32,766) and PostgreSQL's (65,535) bound-parameter limits.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// One statement's worth of a write batch.
pub(crate) enum Step {
    Identities(Vec<Identity>),
    Accounts(Vec<Account>),
    One(Box<WriteOp>),
}

/// Splits `ops` into steps, in order: runs of identity (or account) upserts become one step
/// of at most [`ROWS_PER_STATEMENT`] rows with distinct ids (a multi-row upsert may not touch
/// a row twice on PostgreSQL); every other op is its own step.
pub(crate) fn steps(ops: Vec<WriteOp>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut ids: HashSet<String> = HashSet::new();
    for op in ops {
        match (op, out.last_mut()) {
            (WriteOp::UpsertIdentity(i), Some(Step::Identities(run)))
                if run.len() < ROWS_PER_STATEMENT && !ids.contains(i.id.as_str()) =>
            {
                ids.insert(i.id.as_str().to_owned());
                run.push(i);
            }
            (WriteOp::UpsertAccount(a), Some(Step::Accounts(run)))
                if run.len() < ROWS_PER_STATEMENT && !ids.contains(a.id.as_str()) =>
            {
                ids.insert(a.id.as_str().to_owned());
                run.push(a);
            }
            (WriteOp::UpsertIdentity(i), _) => {
                ids.clear();
                ids.insert(i.id.as_str().to_owned());
                out.push(Step::Identities(vec![i]));
            }
            (WriteOp::UpsertAccount(a), _) => {
                ids.clear();
                ids.insert(a.id.as_str().to_owned());
                out.push(Step::Accounts(vec![a]));
            }
            (other, _) => out.push(Step::One(Box::new(other))),
        }
    }
    out
}

/// The multi-row upsert of identities, in SQL both backends accept (`excluded.` is the
/// proposed row in SQLite and PostgreSQL alike); each backend executes it.
pub(crate) fn upsert_identities<'a, DB>(rows: &'a [Identity]) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    &'a str: Encode<'a, DB> + Type<DB>,
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(
        "INSERT INTO identities (id, login_name, display_name, email, attributes, user_level, active) ",
    );
    q.push_values(rows, |mut b, i| {
        b.push_bind(i.id.as_str())
            .push_bind(i.login_name.as_str())
            .push_bind(i.display_name.as_str())
            .push_bind(i.email.as_deref())
            .push_bind(to_json(&i.attributes))
            .push_bind(i.user_level.as_str())
            .push_bind(i.active);
    });
    q.push(
        " ON CONFLICT (id) DO UPDATE SET login_name = excluded.login_name,
           display_name = excluded.display_name, email = excluded.email,
           attributes = excluded.attributes, user_level = excluded.user_level,
           active = excluded.active",
    );
    q
}

/// The multi-row upsert of accounts (see [`upsert_identities`]).
pub(crate) fn upsert_accounts<'a, DB>(rows: &'a [Account]) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    &'a str: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(
        "INSERT INTO accounts (id, source_id, identity_id, native_id, account_name, attributes, disabled) ",
    );
    q.push_values(rows, |mut b, a| {
        b.push_bind(a.id.as_str())
            .push_bind(a.source_id.as_str())
            .push_bind(a.identity_id.as_str())
            .push_bind(a.native_id.as_str())
            .push_bind(a.account_name.as_str())
            .push_bind(to_json(&a.attributes))
            .push_bind(a.disabled);
    });
    q.push(
        " ON CONFLICT (id) DO UPDATE SET source_id = excluded.source_id,
           identity_id = excluded.identity_id, native_id = excluded.native_id,
           account_name = excluded.account_name, attributes = excluded.attributes,
           disabled = excluded.disabled",
    );
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use passbroker_core::identity::{LoginName, UserLevel};
    use passbroker_core::IdentityId;

    fn identity(id: &IdentityId, n: usize) -> WriteOp {
        WriteOp::UpsertIdentity(Identity {
            id: id.clone(),
            login_name: LoginName::parse(&format!("u{n}")).unwrap(),
            display_name: format!("U {n}"),
            email: None,
            attributes: Default::default(),
            user_level: UserLevel::User,
            active: true,
        })
    }

    #[test]
    fn runs_are_bounded_keep_order_and_never_repeat_an_id() {
        let ids: Vec<IdentityId> = (0..1200).map(|_| IdentityId::generate()).collect();
        let mut ops: Vec<WriteOp> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| identity(id, n))
            .collect();
        ops.insert(3, WriteOp::PutDictionary("x".into()));
        ops.push(identity(&ids[1199], 7)); // the same id again: a new statement
        let sizes: Vec<(char, usize)> = steps(ops)
            .iter()
            .map(|s| match s {
                Step::Identities(v) => ('i', v.len()),
                Step::Accounts(v) => ('a', v.len()),
                Step::One(_) => ('1', 1),
            })
            .collect();
        assert_eq!(
            sizes,
            vec![
                ('i', 3),
                ('1', 1),
                ('i', 500),
                ('i', 500),
                ('i', 197),
                ('i', 1)
            ]
        );
    }
}
