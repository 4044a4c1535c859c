//! The demo tenant (`serve --demo`): ISC's documentation world, usable at once.
//!
//! Identity `Abby.Smith` with an account on `My-AD` (simulated connector) and on the built-in
//! source, a default policy, and an API client whose credentials are printed and written to
//! `<data-dir>/demo-credentials.json`. Seeding is idempotent: restarting keeps the data and the
//! same credentials.

use crate::state::AppState;
use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::client::SCOPE_ALL;
use passbroker_core::identity::{Identity, LoginName, UserLevel};
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::source::{ConnectorKind, DeliverySettings, Source, SourceName};
use passbroker_core::{AccountRef, IdentityId, PolicyId, SourceId};
use passbroker_store::WriteOp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoCredentials {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub user_name: String,
    pub source_name: String,
}

pub const DEMO_USER: &str = "Abby.Smith";
pub const DEMO_SOURCE: &str = "My-AD";

pub async fn seed(state: &AppState, port: u16) -> anyhow::Result<DemoCredentials> {
    let store = &state.store;
    let now = state.clock.now();
    let base_url = state.config.public_url.clone().unwrap_or_else(|| {
        let host = state.config.listen_addr().ip();
        let host = if host.is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            host.to_string()
        };
        format!("http://{host}:{port}")
    });
    let path = state.config.data_dir.join("demo-credentials.json");
    if store.find_identity_by_login(DEMO_USER).await?.is_none() {
        let policy = PasswordPolicy {
            id: Some(PolicyId::generate()),
            name: "Default Policy".into(),
            description: Some("The demo tenant's default policy".into()),
            min_length: 8,
            max_length: 128,
            min_alpha: 1,
            min_numeric: 1,
            max_repeated_chars: 3,
            default_policy: true,
            date_created: Some(now),
            last_updated: Some(now),
            ..PasswordPolicy::default()
        };
        let identity = Identity {
            id: IdentityId::generate(),
            login_name: LoginName::parse(DEMO_USER)?,
            display_name: "Abby Smith".into(),
            email: Some("abby.smith@example.com".into()),
            attributes: BTreeMap::from([
                ("department".into(), "Sales".into()),
                ("location".into(), "Austin".into()),
            ]),
            user_level: UserLevel::User,
            active: true,
        };
        let source = |name: &str, kind: ConnectorKind, description: &str| Source {
            id: SourceId::generate(),
            name: SourceName::parse(name).unwrap_or_else(|_| unreachable_name()),
            description: description.into(),
            features: vec!["PASSWORD".into(), "AUTHENTICATE".into()],
            connector: kind,
            connector_config: serde_json::json!({}),
            wrapped_secrets: None,
            owner: Some(identity.id.clone()),
            password_policy_id: policy.id.clone(),
            delivery: DeliverySettings::default(),
            created: now,
            modified: now,
        };
        let ad = source(
            DEMO_SOURCE,
            ConnectorKind::Simulated,
            "A simulated Active Directory (changes nothing)",
        );
        let builtin = source(
            "passbroker",
            ConnectorKind::Builtin,
            "passbroker's own directory (your login)",
        );
        let account = |s: &Source, native: &str| -> anyhow::Result<Account> {
            Ok(Account {
                id: AccountRef::generate(),
                source_id: s.id.clone(),
                identity_id: identity.id.clone(),
                native_id: NativeAccountId::parse(native)?,
                account_name: DEMO_USER.into(),
                attributes: BTreeMap::new(),
                disabled: false,
            })
        };
        let ops = vec![
            WriteOp::UpsertPolicy(policy.clone()),
            WriteOp::UpsertIdentity(identity.clone()),
            WriteOp::UpsertSource(ad.clone()),
            WriteOp::UpsertSource(builtin.clone()),
            WriteOp::UpsertAccount(account(
                &ad,
                "CN=Abby Smith,OU=Austin,OU=Americas,OU=Demo,DC=seri,DC=acme,DC=com",
            )?),
            WriteOp::UpsertAccount(account(&builtin, DEMO_USER)?),
        ];
        store.apply(ops).await?;
    }
    // Reuse the credentials of an earlier run while their client still exists.
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(mut creds) = serde_json::from_str::<DemoCredentials>(&text) {
            if store.get_client(&creds.client_id).await?.is_some() {
                if creds.base_url != base_url {
                    creds.base_url = base_url;
                    crate::secrets::write_private_file(
                        &path,
                        serde_json::to_string_pretty(&creds)?.as_bytes(),
                    )
                    .map_err(anyhow::Error::msg)?;
                }
                announce(&creds, &path);
                return Ok(creds);
            }
        }
    }
    let (client, secret) = crate::admin::new_client(
        "demo",
        vec![SCOPE_ALL.to_owned()],
        vec![
            "client_credentials".into(),
            "authorization_code".into(),
            "refresh_token".into(),
        ],
        vec![
            "http://127.0.0.1/callback".into(),
            "http://localhost/callback".into(),
        ],
        now,
    )
    .map_err(anyhow::Error::msg)?;
    store
        .apply(vec![WriteOp::UpsertClient(client.clone())])
        .await?;
    let creds = DemoCredentials {
        base_url,
        client_id: client.client_id,
        client_secret: secret.to_string(),
        user_name: DEMO_USER.into(),
        source_name: DEMO_SOURCE.into(),
    };
    crate::secrets::write_private_file(&path, serde_json::to_string_pretty(&creds)?.as_bytes())
        .map_err(anyhow::Error::msg)?;
    announce(&creds, &path);
    Ok(creds)
}

fn unreachable_name() -> SourceName {
    // The demo's names are constants that parse; this only satisfies the type checker.
    SourceName::parse("demo").unwrap_or_else(|_| std::process::abort())
}

fn announce(creds: &DemoCredentials, path: &std::path::Path) {
    // The demo client's secret is printed on purpose: it is the demo's front door.
    println!(
        "\npassbroker demo tenant ready\n  base URL:      {}\n  client id:     {}\n  client secret: {}\n  user / source: {} / {}\n  written to:    {}\n",
        creds.base_url,
        creds.client_id,
        creds.client_secret,
        creds.user_name,
        creds.source_name,
        path.display()
    );
}
