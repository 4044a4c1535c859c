//! Who may do what: every protected route × every kind of caller, over HTTP, and the pure
//! decision function `authorize()` on its own.

use crate::helpers::*;
use passbroker_core::identity::UserLevel;
use passbroker_server::http::auth::{
    authorize, Access, ApiAuthority, Operation, Principal, UserPrincipal,
};
use passbroker_server::http::error::ApiError;
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    /// API client with `sp:scopes:all`.
    AppAll,
    /// API client with only the route's fine-grained scope (each of them in turn).
    AppFine,
    /// API client with an unrelated scope (`idn:password-policy:read`).
    AppUnrelated,
    /// PAT of a USER (Abby), `sp:scopes:all`.
    PatUser,
    /// PAT of an ORG_ADMIN, `sp:scopes:all`.
    PatAdmin,
    NoToken,
    Garbage,
}

const CALLERS: [Caller; 7] = [
    Caller::AppAll,
    Caller::AppFine,
    Caller::AppUnrelated,
    Caller::PatUser,
    Caller::PatAdmin,
    Caller::NoToken,
    Caller::Garbage,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    QueryInfo,
    SetPassword,
    Status,
    PatsList,
    PatsCreate,
    PatsDelete,
    Audit,
}

impl Kind {
    /// The fine-grained scopes that grant the route (besides `sp:scopes:all`).
    fn fine_scopes(self) -> &'static [&'static str] {
        match self {
            Kind::QueryInfo => &["idn:password-info:read"],
            Kind::SetPassword => &["idn:password-change:manage"],
            Kind::Status => &["idn:password-change:read", "idn:password-change:manage"],
            Kind::PatsList | Kind::PatsCreate | Kind::PatsDelete => &["sp:scopes:all"],
            Kind::Audit => &["idn:audit:read"],
        }
    }

    /// The expected status for an authenticated caller that holds a scope for the route.
    fn expected(self, caller: Caller) -> u16 {
        let user = matches!(caller, Caller::PatUser | Caller::PatAdmin);
        match (self, caller) {
            (_, Caller::NoToken | Caller::Garbage) => 401,
            (_, Caller::AppUnrelated) => 403,
            (Kind::QueryInfo, _) if user => 403,
            (Kind::QueryInfo, _) => 200,
            // Each caller targets an account it may change (users: their own).
            (Kind::SetPassword, _) => 202,
            // Each caller asks for a request it may see (users: their own).
            (Kind::Status, _) => 200,
            (Kind::PatsList, _) => 200,
            // PATs belong to users: API clients get 403 from the handler.
            (Kind::PatsCreate, _) if user => 200,
            (Kind::PatsCreate, _) => 403,
            // Authorized, but there is no such PAT.
            (Kind::PatsDelete, _) => 404,
            (Kind::Audit, Caller::PatUser) => 403,
            (Kind::Audit, _) => 200,
        }
    }
}

struct Route {
    kind: Kind,
    method: reqwest::Method,
    path: String,
}

fn routes() -> Vec<Route> {
    let mut out = Vec::new();
    let r = |kind, method: reqwest::Method, path: String| Route { kind, method, path };
    for v in ["v3", "beta", "v2024", "v2025"] {
        out.push(r(
            Kind::QueryInfo,
            reqwest::Method::POST,
            format!("/{v}/query-password-info"),
        ));
        out.push(r(
            Kind::SetPassword,
            reqwest::Method::POST,
            format!("/{v}/set-password"),
        ));
        out.push(r(
            Kind::Status,
            reqwest::Method::GET,
            format!("/{v}/password-change-status/"),
        ));
    }
    out.push(r(
        Kind::QueryInfo,
        reqwest::Method::POST,
        "/query-password-info/v1".into(),
    ));
    out.push(r(
        Kind::SetPassword,
        reqwest::Method::POST,
        "/set-password/v1".into(),
    ));
    out.push(r(
        Kind::Status,
        reqwest::Method::GET,
        "/password-change-status/v1/".into(),
    ));
    // An SDK base URL with a trailing slash.
    out.push(r(
        Kind::QueryInfo,
        reqwest::Method::POST,
        "//v3/query-password-info".into(),
    ));
    out.push(r(
        Kind::SetPassword,
        reqwest::Method::POST,
        "//v3/set-password".into(),
    ));
    out.push(r(
        Kind::Status,
        reqwest::Method::GET,
        "//v3/password-change-status/".into(),
    ));
    for v in ["beta", "v2024", "v2025"] {
        out.push(r(
            Kind::PatsList,
            reqwest::Method::GET,
            format!("/{v}/personal-access-tokens"),
        ));
        out.push(r(
            Kind::PatsCreate,
            reqwest::Method::POST,
            format!("/{v}/personal-access-tokens"),
        ));
        out.push(r(
            Kind::PatsDelete,
            reqwest::Method::DELETE,
            format!("/{v}/personal-access-tokens/0123456789abcdef0123456789abcdef"),
        ));
    }
    out.push(r(
        Kind::Audit,
        reqwest::Method::GET,
        "/passbroker/v1/audit-events".into(),
    ));
    out
}

/// What a caller needs beyond its token: whose account it changes, whose request it reads.
struct CallerData {
    token: Option<String>,
    set_body: Option<Value>,
    request_id: Option<String>,
}

#[tokio::test]
async fn every_route_for_every_kind_of_caller() {
    let app = spawn_app().await;
    let api = app.token().await;
    let abby = app.abby().await;
    let admin = app.add_user("Org.Admin", UserLevel::OrgAdmin).await;
    let (_, abby_pat) = app.pat_token(&abby.identity.id).await;
    let (_, admin_pat) = app.pat_token(&admin.identity.id).await;
    let abby_body = app.body_for(&api, &abby, "Corr3ct-Horse-1").await;
    let admin_body = app.body_for(&api, &admin, "Corr3ct-Horse-2").await;
    let abby_request = app.set_password(&api, &abby_body).await;
    let admin_request = app.set_password(&admin_pat, &admin_body).await;

    let mut fine_tokens: HashMap<&'static str, String> = HashMap::new();
    for kind in [
        Kind::QueryInfo,
        Kind::SetPassword,
        Kind::Status,
        Kind::PatsList,
        Kind::Audit,
    ] {
        for scope in kind.fine_scopes() {
            if !fine_tokens.contains_key(scope) {
                fine_tokens.insert(scope, app.token_with_scopes(&[scope]).await);
            }
        }
    }
    let unrelated = app.token_with_scopes(&["idn:password-policy:read"]).await;

    let data = |caller: Caller, fine: Option<&String>| -> CallerData {
        let (token, body, request) = match caller {
            Caller::AppAll => (Some(api.clone()), &abby_body, &abby_request),
            Caller::AppFine => (fine.cloned(), &abby_body, &abby_request),
            Caller::AppUnrelated => (Some(unrelated.clone()), &abby_body, &abby_request),
            Caller::PatUser => (Some(abby_pat.clone()), &abby_body, &abby_request),
            Caller::PatAdmin => (Some(admin_pat.clone()), &admin_body, &admin_request),
            Caller::NoToken => (None, &abby_body, &abby_request),
            Caller::Garbage => (
                Some("garbage.garbage.garbage".to_owned()),
                &abby_body,
                &abby_request,
            ),
        };
        CallerData {
            token,
            set_body: Some(body.clone()),
            request_id: Some(request.clone()),
        }
    };

    let mut failures = Vec::new();
    let mut checked = 0;
    for route in routes() {
        for caller in CALLERS {
            let fine_list: Vec<Option<&String>> = if caller == Caller::AppFine {
                route
                    .kind
                    .fine_scopes()
                    .iter()
                    .map(|s| fine_tokens.get(s))
                    .collect()
            } else {
                vec![None]
            };
            for fine in fine_list {
                let d = data(caller, fine);
                let mut path = route.path.clone();
                if route.kind == Kind::Status {
                    path.push_str(d.request_id.as_deref().unwrap());
                }
                let mut req = app.http.request(route.method.clone(), app.url(&path));
                req = match route.kind {
                    Kind::QueryInfo => {
                        req.json(&json!({"userName": "Abby.Smith", "sourceName": "My-AD"}))
                    }
                    Kind::SetPassword => req.json(d.set_body.as_ref().unwrap()),
                    Kind::PatsCreate => req.json(&json!({"name": "table"})),
                    _ => req,
                };
                if let Some(t) = &d.token {
                    req = req.bearer_auth(t);
                }
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let expected = route.kind.expected(caller);
                let mut body: Value = r.json().await.unwrap_or(Value::Null);
                if let Some(o) = body.as_object_mut() {
                    // A created PAT's secret is never printed in a failure message.
                    o.remove("secret");
                }
                checked += 1;
                let shape_ok = match status {
                    401 => body
                        .as_object()
                        .is_some_and(|o| o.len() == 1 && o["error"].is_string()),
                    403 => {
                        body["detailCode"] == "403 Forbidden"
                            && body["causes"].as_array().is_some_and(|c| !c.is_empty())
                    }
                    _ => true,
                };
                if status != expected || !shape_ok {
                    failures.push(format!(
                        "{} {} as {caller:?}: expected {expected}, got {status} {body}",
                        route.method, route.path
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 200, "the table covered {checked} cells");
}

/// The route declarations carry the access rules the table expects.
#[test]
fn the_operations_declare_their_scopes_and_callers() {
    use passbroker_server::http::routes::password::{
        GetPasswordChangeStatus, QueryPasswordInfo, SetPassword,
    };
    use passbroker_server::http::routes::pats_audit::{ListAuditEvents, ManagePats};
    assert_eq!(QueryPasswordInfo::ACCESS, Access::AppsOnly);
    assert_eq!(QueryPasswordInfo::SCOPES, Kind::QueryInfo.fine_scopes());
    assert_eq!(SetPassword::ACCESS, Access::AppsAndUsers);
    assert_eq!(SetPassword::SCOPES, Kind::SetPassword.fine_scopes());
    assert_eq!(GetPasswordChangeStatus::ACCESS, Access::AppsAndUsers);
    assert_eq!(GetPasswordChangeStatus::SCOPES, Kind::Status.fine_scopes());
    assert_eq!(ListAuditEvents::ACCESS, Access::AppsAndAdmins);
    assert_eq!(ListAuditEvents::SCOPES, Kind::Audit.fine_scopes());
    assert_eq!(ManagePats::ACCESS, Access::AppsAndUsers);
    assert_eq!(ManagePats::SCOPES, Kind::PatsList.fine_scopes());
}

fn app_principal() -> Principal {
    Principal::App(ApiAuthority {
        client_id: "client".into(),
    })
}

fn user_principal(level: UserLevel) -> Principal {
    Principal::User(UserPrincipal {
        identity_id: passbroker_core::IdentityId::generate(),
        user_name: "someone".into(),
        level,
        pat_id: Some("pat".into()),
    })
}

fn decide(p: &Principal, scopes: &[&str], access: Access) -> Result<(), String> {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    authorize(p, &scopes, "op", &["idn:x:read", "idn:x:manage"], access).map_err(|e| match e {
        ApiError::Forbidden(m) => m,
        other => panic!("authorize returns only Forbidden, got {other:?}"),
    })
}

#[test]
fn authorize_checks_scope_then_caller_kind() {
    let levels = [
        UserLevel::User,
        UserLevel::HelpdeskAdmin,
        UserLevel::SourceAdmin,
        UserLevel::OrgAdmin,
    ];
    let accesses = [
        Access::AppsAndUsers,
        Access::AppsOnly,
        Access::AppsAndAdmins,
        Access::AdminsOnly,
    ];
    // Without a matching scope nobody passes, whatever the access rule; the message names the scopes.
    for access in accesses {
        for p in std::iter::once(app_principal()).chain(levels.map(user_principal)) {
            for scopes in [
                &[][..],
                &["idn:y:read"][..],
                &["sp:scopes:default"][..],
                &["idn:x:read "][..],
                &["IDN:X:READ"][..],
            ] {
                let e = decide(&p, scopes, access).unwrap_err();
                assert!(
                    e.contains("idn:x:read, idn:x:manage") && e.contains("sp:scopes:all"),
                    "{e}"
                );
            }
        }
    }
    // With a scope (either fine-grained one, or sp:scopes:all, among others) the access rule decides.
    for scopes in [
        &["idn:x:read"][..],
        &["idn:x:manage"][..],
        &["sp:scopes:all"][..],
        &["idn:y:read", "idn:x:manage"][..],
    ] {
        for access in accesses {
            let app_ok = decide(&app_principal(), scopes, access).is_ok();
            assert_eq!(app_ok, access != Access::AdminsOnly, "app, {access:?}");
            for level in levels {
                let ok = decide(&user_principal(level), scopes, access);
                let expected = match access {
                    Access::AppsAndUsers => true,
                    Access::AppsOnly => false,
                    Access::AppsAndAdmins | Access::AdminsOnly => level == UserLevel::OrgAdmin,
                };
                assert_eq!(ok.is_ok(), expected, "{level:?}, {access:?}: {ok:?}");
                if let Err(e) = ok {
                    assert!(!e.is_empty());
                    if access != Access::AppsOnly {
                        assert!(e.contains("ORG_ADMIN") && e.contains(level.as_str()), "{e}");
                    }
                }
            }
        }
    }
}
