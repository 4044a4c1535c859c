//! Groups the identity and account upserts of a write batch into multi-row statements, so
//! that bulk imports cost one statement per few hundred rows instead of one per row.

use crate::WriteOp;
use passbroker_core::account::Account;
use passbroker_core::identity::Identity;
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
