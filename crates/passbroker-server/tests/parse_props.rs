//! Property tests of request parsing ("fuzzing" with proptest; see scripts/fuzz.sh to run
//! them at scale): arbitrary bytes and near-JSON never panic, and every failure is a 4xx.

use passbroker_server::http::error::ApiError;
use passbroker_server::http::routes::extract::parse_json;
use passbroker_wire::{PasswordChangeRequestDto, PasswordInfoQueryDto};
use proptest::prelude::*;

fn is_client_error(e: &ApiError) -> bool {
    matches!(e, ApiError::BadRequest(causes) if !causes.is_empty())
}

/// JSON-looking text: objects with the DTO's field names and values of every kind.
fn near_json() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("identityId"),
        Just("encryptedPassword"),
        Just("publicKeyId"),
        Just("accountId"),
        Just("sourceId"),
        Just("encryption"),
        Just("userName"),
        Just("sourceName"),
        Just("x"),
    ];
    let value = prop_oneof![
        any::<String>().prop_map(|s| serde_json::Value::from(s).to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("true".to_owned()),
        "[a-zA-Z0-9+/=]{0,400}".prop_map(|s| format!("\"{s}\"")),
    ];
    prop::collection::vec((key, value), 0..8).prop_map(|pairs| {
        let body: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| format!("\"{k}\": {v}"))
            .collect();
        format!("{{{}}}", body.join(", "))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Err(e) = parse_json::<PasswordChangeRequestDto>(&bytes) {
            prop_assert!(is_client_error(&e));
        }
        if let Err(e) = parse_json::<PasswordInfoQueryDto>(&bytes) {
            prop_assert!(is_client_error(&e));
        }
    }

    #[test]
    fn near_json_parses_or_says_where(text in near_json()) {
        match parse_json::<PasswordChangeRequestDto>(text.as_bytes()) {
            Ok(_) => {}
            Err(e) => prop_assert!(is_client_error(&e), "{:?}", e),
        }
    }
}
