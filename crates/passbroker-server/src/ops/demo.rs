//! The demo tenant (`serve --demo`): ISC's documentation world, usable at once.
//!
//! Identity `Abby.Smith` with an account on `My-AD` (simulated connector) and on the built-in
//! source, a default policy, and an API client whose credentials are printed and written to
//! `<data-dir>/demo-credentials.json`. For the Password Manager page, Abby also gets a sign-in
//! password (written to the same file as `userPassword`), the password sync group
//! `Workplace sign-in` (the built-in source, whose password she signs in with, and the
//! simulated `Corp-Mail`), and an account on `Payroll`, a simulated source that refuses every
//! change (to show a failed target). Seeding is idempotent: restarting keeps the data and the
//! same credentials.

use crate::config::Config;
use crate::pipeline::directory::{build_identity, IdentityFields};
use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::client::SCOPE_ALL;
use passbroker_core::identity::UserLevel;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::source::{ConnectorKind, DeliverySettings, Source, SourceName};
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, PolicyId, SourceId, SyncGroupId};
use passbroker_store::Store;
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
    /// Abby's sign-in password for the Password Manager page, as generated at seeding (a
    /// change on the page makes it stale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_password: Option<String>,
    /// The help-desk agent (level HELPDESK) and their sign-in password, as generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helpdesk_user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helpdesk_password: Option<String>,
}

pub const DEMO_USER: &str = "Abby.Smith";
/// The demo's help-desk agent (user level HELPDESK).
pub const DEMO_HELPDESK_USER: &str = "Hal.Desk";
pub const DEMO_SOURCE: &str = "My-AD";
/// The built-in source (the passbroker login).
pub const DEMO_BUILTIN_SOURCE: &str = "passbroker";
/// The second source of the demo's sync group.
pub const DEMO_MAIL_SOURCE: &str = "Corp-Mail";
/// The demo's password sync group: the built-in source and `Corp-Mail`.
pub const DEMO_SYNC_GROUP: &str = "Workplace sign-in";
/// A simulated source that refuses every change.
pub const DEMO_FAILING_SOURCE: &str = "Payroll";
/// What `Payroll` says when it refuses.
pub const DEMO_FAILURE_MESSAGE: &str =
    "The payroll system refused the change: the account is locked there. Ask the service desk to unlock it.";

pub async fn seed(
    store: &dyn Store,
    config: &Config,
    now: Millis,
    port: u16,
) -> anyhow::Result<DemoCredentials> {
    let base_url = config.public_url.clone().unwrap_or_else(|| {
        let host = config.listen_addr().ip();
        let host = if host.is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            host.to_string()
        };
        let scheme = if config.tls() { "https" } else { "http" };
        format!("{scheme}://{host}:{port}")
    });
    let path = config.data_dir.join("demo-credentials.json");
    if store.find_identity_by_login(DEMO_USER).await?.is_none() {
        seed_directory(store, now).await?;
    }
    let user_password = seed_page_world(store, now).await?;
    let helpdesk_password = seed_helpdesk(store, now).await?;
    // Reuse the credentials of an earlier run while their client still exists.
    if let Some(creds) = reused_credentials(
        store,
        &path,
        &base_url,
        user_password.clone(),
        helpdesk_password.clone(),
    )
    .await?
    {
        announce(&creds, &path);
        return Ok(creds);
    }
    let (client, secret) = crate::ops::credentials::new_client(
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
        user_password,
        helpdesk_user_name: Some(DEMO_HELPDESK_USER.into()),
        helpdesk_password,
    };
    crate::pipeline::secrets::write_private_file(
        &path,
        serde_json::to_string_pretty(&creds)?.as_bytes(),
    )
    .map_err(anyhow::Error::msg)?;
    announce(&creds, &path);
    Ok(creds)
}

/// The demo's directory: the default policy, Abby, the simulated AD and the built-in source,
/// and her account on each.
async fn seed_directory(store: &dyn Store, now: Millis) -> anyhow::Result<()> {
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
    let identity = build_identity(
        IdentityFields {
            name: Some(DEMO_USER.into()),
            display_name: Some("Abby Smith".into()),
            email_address: Some("abby.smith@example.com".into()),
            attributes: Some(BTreeMap::from([
                ("department".into(), "Sales".into()),
                ("location".into(), "Austin".into()),
            ])),
            ..IdentityFields::default()
        },
        None,
    )
    .map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
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
    Ok(())
}

/// The credentials file of an earlier run, brought up to date (base URL, a new page
/// password), when its client still exists.
async fn reused_credentials(
    store: &dyn Store,
    path: &std::path::Path,
    base_url: &str,
    user_password: Option<String>,
    helpdesk_password: Option<String>,
) -> anyhow::Result<Option<DemoCredentials>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let Ok(mut creds) = serde_json::from_str::<DemoCredentials>(&text) else {
        return Ok(None);
    };
    if store.get_client(&creds.client_id).await?.is_none() {
        return Ok(None);
    }
    let new_password = user_password.is_some() || helpdesk_password.is_some();
    if user_password.is_some() {
        creds.user_password = user_password;
    }
    if helpdesk_password.is_some() {
        creds.helpdesk_user_name = Some(DEMO_HELPDESK_USER.into());
        creds.helpdesk_password = helpdesk_password;
    }
    if creds.base_url != base_url || new_password {
        creds.base_url = base_url.to_owned();
        crate::pipeline::secrets::write_private_file(
            path,
            serde_json::to_string_pretty(&creds)?.as_bytes(),
        )
        .map_err(anyhow::Error::msg)?;
    }
    Ok(Some(creds))
}

/// The Password Manager page's part of the demo (added to older demo data dirs too): the sync
/// group `Workplace sign-in` (built-in source + `Corp-Mail`), `Payroll` (refuses every
/// change), and Abby's sign-in password when she has none. Returns that new password.
async fn seed_page_world(store: &dyn Store, now: Millis) -> anyhow::Result<Option<String>> {
    let Some(abby) = store.find_identity_by_login(DEMO_USER).await? else {
        return Ok(None);
    };
    let policy = store.default_policy().await?;
    if store.find_source_by_name(DEMO_MAIL_SOURCE).await?.is_none() {
        let builtin = store.find_source_by_name(DEMO_BUILTIN_SOURCE).await?;
        let source = |name: &str, description: &str, config: serde_json::Value| Source {
            id: SourceId::generate(),
            name: SourceName::parse(name).unwrap_or_else(|_| unreachable_name()),
            description: description.into(),
            features: vec!["PASSWORD".into(), "AUTHENTICATE".into()],
            connector: ConnectorKind::Simulated,
            connector_config: config,
            wrapped_secrets: None,
            owner: Some(abby.id.clone()),
            password_policy_id: policy.as_ref().and_then(|p| p.id.clone()),
            delivery: DeliverySettings::default(),
            created: now,
            modified: now,
        };
        let mail = source(
            DEMO_MAIL_SOURCE,
            "A simulated mail directory (changes nothing)",
            serde_json::json!({ "latencyMs": 400 }),
        );
        let payroll = source(
            DEMO_FAILING_SOURCE,
            "A simulated payroll system that refuses every change (to show a failure)",
            serde_json::json!({
                "latencyMs": 300,
                "failureRate": 1.0,
                "failureMessage": DEMO_FAILURE_MESSAGE,
            }),
        );
        let account = |s: &Source, native: &str| -> anyhow::Result<Account> {
            Ok(Account {
                id: AccountRef::generate(),
                source_id: s.id.clone(),
                identity_id: abby.id.clone(),
                native_id: NativeAccountId::parse(native)?,
                account_name: native.into(),
                attributes: BTreeMap::new(),
                disabled: false,
            })
        };
        let mut ops = vec![
            WriteOp::UpsertSource(mail.clone()),
            WriteOp::UpsertSource(payroll.clone()),
            WriteOp::UpsertAccount(account(&mail, "abby.smith@example.com")?),
            WriteOp::UpsertAccount(account(&payroll, "E-10442")?),
        ];
        if let (Some(builtin), Some(policy_id)) =
            (builtin, policy.as_ref().and_then(|p| p.id.clone()))
        {
            ops.push(WriteOp::UpsertSyncGroup(PasswordSyncGroup {
                id: SyncGroupId::generate(),
                name: DEMO_SYNC_GROUP.into(),
                password_policy_id: policy_id,
                source_ids: vec![builtin.id, mail.id.clone()],
                created: now,
                modified: now,
            }));
        }
        store.apply(ops).await?;
    }
    if store.get_builtin_credential(&abby.id).await?.is_some() {
        return Ok(None);
    }
    let policy = policy.unwrap_or_default();
    let password = loop {
        // "Abby-" + 72 random bits + two digits: a letter and a digit whatever the draw;
        // drawn again in the unlikely case a run of repeated characters breaks the policy.
        let candidate = format!(
            "Abby-{}-{}",
            passbroker_crypto::random::random_token(9),
            passbroker_crypto::random::random_digits(2)
        );
        let check = passbroker_core::Password::new(zeroize::Zeroizing::new(candidate.clone()));
        let ctx = passbroker_core::policy::eval::PolicyContext::empty();
        if passbroker_core::policy::eval::evaluate(&policy, &check, &ctx).is_empty() {
            break candidate;
        }
    };
    let hash =
        passbroker_crypto::password_hash::hash(password.as_bytes()).map_err(anyhow::Error::msg)?;
    store
        .apply(vec![WriteOp::SetBuiltinCredential {
            identity_id: abby.id.clone(),
            hash,
            now,
        }])
        .await?;
    Ok(Some(password))
}

/// The demo's help-desk agent `Hal.Desk` (level HELPDESK, no accounts of their own), with a
/// sign-in password when they have none. Returns that new password.
async fn seed_helpdesk(store: &dyn Store, now: Millis) -> anyhow::Result<Option<String>> {
    let agent = match store.find_identity_by_login(DEMO_HELPDESK_USER).await? {
        Some(i) => i,
        None => {
            let identity = build_identity(
                IdentityFields {
                    name: Some(DEMO_HELPDESK_USER.into()),
                    display_name: Some("Hal Desk".into()),
                    email_address: Some("helpdesk@example.com".into()),
                    user_level: Some(UserLevel::HelpdeskAdmin.as_str().into()),
                    ..IdentityFields::default()
                },
                None,
            )
            .map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
            store
                .apply(vec![WriteOp::UpsertIdentity(identity.clone())])
                .await?;
            identity
        }
    };
    if store.get_builtin_credential(&agent.id).await?.is_some() {
        return Ok(None);
    }
    let password = format!(
        "Desk-{}-{}",
        passbroker_crypto::random::random_token(9),
        passbroker_crypto::random::random_digits(2)
    );
    let hash =
        passbroker_crypto::password_hash::hash(password.as_bytes()).map_err(anyhow::Error::msg)?;
    store
        .apply(vec![WriteOp::SetBuiltinCredential {
            identity_id: agent.id.clone(),
            hash,
            now,
        }])
        .await?;
    Ok(Some(password))
}

fn unreachable_name() -> SourceName {
    // The demo's names are constants that parse; this only satisfies the type checker.
    SourceName::parse("demo").unwrap_or_else(|_| std::process::abort())
}

fn announce(creds: &DemoCredentials, path: &std::path::Path) {
    // The demo client's secret is printed on purpose: it is the demo's front door.
    println!(
        "\npassbroker demo tenant ready\n  base URL:      {}\n  client id:     {}\n  client secret: {}\n  user / source: {} / {}\n  written to:    {}\n  Password Manager page: {}/ (sign in as {} with the userPassword in that file; the help desk as {} with helpdeskPassword)\n",
        creds.base_url,
        creds.client_id,
        creds.client_secret,
        creds.user_name,
        creds.source_name,
        path.display(),
        creds.base_url,
        creds.user_name,
        DEMO_HELPDESK_USER,
    );
}
