//! `CaptureStore`: agents' sources, sync groups' capture setting, echoes, agents' keys.

use super::{
    args, detached, first, json_list, outbox, parse, to_json, Dialect, SqlStore, Transaction,
};
use crate::capture::{CapturePolicyFailure, CaptureReport, CaptureStore};
use crate::event_store::types;
use crate::StoreResult;
use async_trait::async_trait;
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, RequestId, SourceId, SyncGroupId};

#[async_trait]
impl<D: Dialect> CaptureStore for SqlStore<D> {
    async fn set_capture_sources(&self, client_id: &str, sources: &[SourceId]) -> StoreResult<()> {
        let (d, client_id, sources) = (self.d.clone(), client_id.to_owned(), sources.to_vec());
        detached(async move {
            let mut tx = d.begin().await?;
            tx.exec(
                "DELETE FROM capture_client_sources WHERE client_id = $1",
                args![&client_id],
            )
            .await?;
            for s in &sources {
                tx.exec(
                    "INSERT INTO capture_client_sources (client_id, source_id) VALUES ($1, $2)
                     ON CONFLICT (client_id, source_id) DO NOTHING",
                    args![&client_id, s.as_str()],
                )
                .await?;
            }
            tx.commit().await
        })
        .await
    }

    async fn capture_sources(&self, client_id: &str) -> StoreResult<Vec<SourceId>> {
        let rows = self
            .d
            .fetch(
                "SELECT source_id FROM capture_client_sources WHERE client_id = $1 ORDER BY source_id",
                args![client_id],
            )
            .await?;
        rows.iter()
            .map(|r| parse(SourceId::parse(r.str("source_id")?), "capture source"))
            .collect()
    }

    async fn is_capture_origin(&self, source: &SourceId) -> StoreResult<bool> {
        let rows = self
            .d
            .fetch(
                "SELECT 1 AS one FROM capture_client_sources WHERE source_id = $1 LIMIT 1",
                args![source.as_str()],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn set_capture_notes(&self, request: &RequestId, notes: &[String]) -> StoreResult<()> {
        self.d
            .exec(
                "INSERT INTO capture_policy_notes (request_id, notes) VALUES ($1, $2)
                 ON CONFLICT (request_id) DO UPDATE SET notes = excluded.notes",
                args![request.as_str(), to_json(&notes)],
            )
            .await?;
        Ok(())
    }

    async fn capture_notes(&self, request: &RequestId) -> StoreResult<Vec<String>> {
        let rows = self
            .d
            .fetch(
                "SELECT notes FROM capture_policy_notes WHERE request_id = $1",
                args![request.as_str()],
            )
            .await?;
        match first(rows) {
            Some(r) => json_list(r.str("notes")?),
            None => Ok(Vec::new()),
        }
    }

    async fn set_capture_policy_failure(
        &self,
        group: &SyncGroupId,
        mode: CapturePolicyFailure,
    ) -> StoreResult<()> {
        self.d
            .exec(
                "INSERT INTO capture_group_settings (group_id, policy_failure) VALUES ($1, $2)
                 ON CONFLICT (group_id) DO UPDATE SET policy_failure = excluded.policy_failure",
                args![group.as_str(), mode.as_str()],
            )
            .await?;
        Ok(())
    }

    async fn capture_policy_failure(
        &self,
        group: &SyncGroupId,
    ) -> StoreResult<CapturePolicyFailure> {
        let rows = self
            .d
            .fetch(
                "SELECT policy_failure FROM capture_group_settings WHERE group_id = $1",
                args![group.as_str()],
            )
            .await?;
        Ok(match first(rows) {
            Some(r) => CapturePolicyFailure::parse(r.str("policy_failure")?).unwrap_or_default(),
            None => CapturePolicyFailure::default(),
        })
    }

    async fn record_echo(
        &self,
        account: &AccountRef,
        mac: &[u8],
        request: &RequestId,
        now: Millis,
        expired_before: Millis,
    ) -> StoreResult<()> {
        let (d, account, mac, request) = (
            self.d.clone(),
            account.clone(),
            mac.to_vec(),
            request.clone(),
        );
        detached(async move {
            let mut tx = d.begin().await?;
            tx.exec(
                "DELETE FROM password_echoes WHERE created < $1",
                args![expired_before],
            )
            .await?;
            tx.exec(
                "INSERT INTO password_echoes (account_id, mac, request_id, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, mac) DO UPDATE SET request_id = excluded.request_id, created = excluded.created",
                args![account.as_str(), &mac, request.as_str(), now],
            )
            .await?;
            tx.commit().await
        })
        .await
    }

    async fn find_echo(
        &self,
        account: &AccountRef,
        mac: &[u8],
        since: Millis,
    ) -> StoreResult<Option<RequestId>> {
        let rows = self
            .d
            .fetch(
                "SELECT request_id FROM password_echoes WHERE account_id = $1 AND mac = $2 AND created >= $3",
                args![account.as_str(), mac, since],
            )
            .await?;
        first(rows)
            .map(|r| parse(RequestId::parse(r.str("request_id")?), "echo request"))
            .transpose()
    }

    async fn find_capture_report(
        &self,
        client_id: &str,
        agent_key: &str,
        since: Millis,
    ) -> StoreResult<Option<RequestId>> {
        let rows = self
            .d
            .fetch(
                "SELECT request_id FROM capture_reports WHERE client_id = $1 AND agent_key = $2 AND created >= $3",
                args![client_id, agent_key, since],
            )
            .await?;
        first(rows)
            .map(|r| parse(RequestId::parse(r.str("request_id")?), "capture request"))
            .transpose()
    }

    async fn record_capture_report(
        &self,
        report: &CaptureReport<'_>,
        now: Millis,
        expired_before: Millis,
    ) -> StoreResult<()> {
        let d = self.d.clone();
        let (client_id, agent_key) = (report.client_id.to_owned(), report.agent_key.to_owned());
        let event = outbox::capture(report, types::CAPTURE_RECEIVED, now);
        detached(async move {
            let mut tx = d.begin().await?;
            tx.exec(
                "DELETE FROM capture_reports WHERE created < $1",
                args![expired_before],
            )
            .await?;
            tx.exec(
                "INSERT INTO capture_reports (client_id, agent_key, request_id, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (client_id, agent_key) DO UPDATE SET request_id = excluded.request_id, created = excluded.created",
                args![&client_id, &agent_key, event.subject.as_deref(), now],
            )
            .await?;
            outbox::push(&mut tx, &event.borrowed()).await?;
            tx.commit().await
        })
        .await
    }

    async fn record_capture_echo(
        &self,
        report: &CaptureReport<'_>,
        now: Millis,
    ) -> StoreResult<()> {
        let d = self.d.clone();
        let event = outbox::capture(report, types::CAPTURE_ECHO_DROPPED, now);
        detached(async move {
            let mut tx = d.begin().await?;
            outbox::push(&mut tx, &event.borrowed()).await?;
            tx.commit().await
        })
        .await
    }
}
