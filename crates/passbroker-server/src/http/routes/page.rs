//! The Password Manager page: `GET /` and `GET /assets/{file}`, embedded in the binary.
//!
//! `index.html` is a template: every `{{key}}` is replaced by the key's text from the message
//! catalogue of the person's language (HTML-escaped), so the page reads right before any
//! script runs; the script takes its own strings from the same catalogue
//! (`/assets/messages-<lang>.json`). The language is `?lang=` (the page's language links; it
//! is remembered in the `passbroker_lang` cookie), else that cookie, else the best match of
//! `Accept-Language`, else English.
//!
//! Every page response carries a strict Content-Security-Policy (scripts and styles only from
//! this origin, no inline script, no `eval`, `frame-ancestors 'none'`), `Referrer-Policy:
//! no-referrer`, and no third-party origin is ever referenced.

use crate::http::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The languages the page speaks; the first is the fallback.
pub const LANGUAGES: &[&str] = &["en", "de", "fr"];
/// The cookie that remembers the language chosen with the page's language links.
pub const LANG_COOKIE: &str = "passbroker_lang";

/// The Content-Security-Policy of every page response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX_HTML: &str = include_str!("../../../assets/page/index.html");
/// The page's custom-instruction slots filled before any script runs.
const INSTRUCTION_SLOTS: &[&str] = &["flowInstructions", "resetInstructions"];

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../assets/page/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../assets/page/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../../assets/page/icon.svg"),
    },
    Asset {
        name: "zxcvbn.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../assets/page/vendor/zxcvbn.js"),
    },
    Asset {
        name: "messages-en.json",
        content_type: "application/json",
        body: include_bytes!("../../../assets/page/messages/en.json"),
    },
    Asset {
        name: "messages-de.json",
        content_type: "application/json",
        body: include_bytes!("../../../assets/page/messages/de.json"),
    },
    Asset {
        name: "messages-fr.json",
        content_type: "application/json",
        body: include_bytes!("../../../assets/page/messages/fr.json"),
    },
];

/// The message catalogue of a language (`None` for a language the page does not speak).
pub fn catalogue(lang: &str) -> Option<&'static BTreeMap<String, String>> {
    static CATALOGUES: OnceLock<Vec<(&'static str, BTreeMap<String, String>)>> = OnceLock::new();
    let all = CATALOGUES.get_or_init(|| {
        LANGUAGES
            .iter()
            .map(|lang| {
                let name = format!("messages-{lang}.json");
                let parsed = ASSETS
                    .iter()
                    .find(|a| a.name == name)
                    .and_then(|a| serde_json::from_slice(a.body).ok())
                    .unwrap_or_default();
                (*lang, parsed)
            })
            .collect()
    });
    all.iter().find(|(l, _)| *l == lang).map(|(_, c)| c)
}

/// The page's language for a request: the switch's cookie, else `Accept-Language`, else `en`.
pub fn choose_language(headers: &HeaderMap) -> &'static str {
    if let Some(lang) = crate::http::session::cookie(headers, LANG_COOKIE) {
        if let Some(l) = LANGUAGES.iter().find(|l| **l == lang) {
            return l;
        }
    }
    let Some(accept) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return LANGUAGES[0];
    };
    // `de-CH, fr;q=0.8, en;q=0.5`: the highest q among the languages we speak wins; ties go
    // to the earlier entry.
    let mut best: Option<(&'static str, f32)> = None;
    for part in accept.split(',').take(32) {
        let mut pieces = part.split(';');
        let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        if let Some(l) = LANGUAGES.iter().find(|l| **l == primary) {
            if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((l, q));
            }
        }
    }
    best.map_or(LANGUAGES[0], |(l, _)| l)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `index.html` with every `{{key}}` replaced by the catalogue's text (English when the
/// language lacks the key, the key itself when English does too); `{{lang}}` is the
/// language and `{{flowInstructions}}` the org's custom instructions of the sign-in screen
/// (an attribute value: the page's script sanitises it before showing it).
pub fn render_index(lang: &str, flow_instructions: &str) -> String {
    render_index_with(lang, &[("flowInstructions", flow_instructions)])
}

/// [`render_index`] with every instruction slot: `flowInstructions` (the sign-in screen) and
/// `resetInstructions` (the "forgot password" screen, `reset-password:enter-username`).
pub fn render_index_with(lang: &str, slots: &[(&str, &str)]) -> String {
    let own = catalogue(lang);
    let english = catalogue(LANGUAGES[0]);
    let mut out = String::with_capacity(INDEX_HTML.len() + 2048);
    let mut rest = INDEX_HTML;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let key = after[..end].trim();
        let text = if key == "lang" {
            lang.to_owned()
        } else if let Some((_, v)) = slots.iter().find(|(k, _)| *k == key) {
            (*v).to_owned()
        } else if INSTRUCTION_SLOTS.contains(&key) {
            String::new()
        } else {
            own.and_then(|c| c.get(key))
                .or_else(|| english.and_then(|c| c.get(key)))
                .cloned()
                .unwrap_or_else(|| key.to_owned())
        };
        out.push_str(&escape(&text));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The security headers of every page response.
pub fn secure_headers(state: &AppState, headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(headers, "content-security-policy", CSP);
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    set(
        headers,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    if crate::http::session::secure(state) {
        set(
            headers,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
}

/// `GET /[?lang=de]`: the page, in the person's language. `lang` (the page's language links)
/// chooses a language and remembers it in a cookie.
pub async fn index(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let chosen = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("lang="))
        .and_then(|l| LANGUAGES.iter().find(|x| **x == l).copied());
    let lang = chosen.unwrap_or_else(|| choose_language(&headers));
    // The sign-in screen shows the org's `flow-selection:select` instructions; without them
    // (or without the store) it still works.
    let flow = super::me::instruction(&state, "flow-selection:select", lang)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let reset = super::me::instruction(&state, "reset-password:enter-username", lang)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut r = (
        StatusCode::OK,
        render_index_with(
            lang,
            &[("flowInstructions", &flow), ("resetInstructions", &reset)],
        ),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Language, Cookie"),
    );
    if let Some(lang) = chosen {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={lang}; Path=/; Max-Age=31536000; SameSite=Lax"
        )) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    secure_headers(&state, h);
    r
}

/// `GET /assets/{file}`: the page's script, style, icon, catalogues and vendored libraries.
pub async fn asset(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        let mut r = crate::http::error::ApiError::not_found(format!(
            "no page asset {:?}",
            file.chars().take(100).collect::<String>()
        ))
        .into_response();
        secure_headers(&state, r.headers_mut());
        return r;
    };
    let mut r = (StatusCode::OK, asset.body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // Revalidate on every load: a new binary's page never mixes with an old script.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure_headers(&state, h);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn accept_language_picks_the_best_language_we_speak() {
        assert_eq!(choose_language(&HeaderMap::new()), "en");
        assert_eq!(choose_language(&accept("de-CH, de;q=0.9")), "de");
        assert_eq!(choose_language(&accept("it, fr;q=0.4, de;q=0.7")), "de");
        assert_eq!(choose_language(&accept("fr-CA")), "fr");
        assert_eq!(choose_language(&accept("ja, it")), "en");
        assert_eq!(choose_language(&accept("de;q=0, fr;q=0.1")), "fr");
        let mut h = accept("de");
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("passbroker_lang=fr"),
        );
        assert_eq!(choose_language(&h), "fr");
    }

    #[test]
    fn every_catalogue_parses_and_has_every_english_key() {
        let english = catalogue("en").expect("en");
        assert!(english.len() > 40, "{}", english.len());
        for lang in LANGUAGES {
            let c = catalogue(lang).expect("catalogue");
            for key in english.keys() {
                assert!(c.contains_key(key), "{lang} lacks {key}");
            }
            for key in c.keys() {
                assert!(
                    english.contains_key(key),
                    "{lang} has {key}, English does not"
                );
            }
        }
    }

    #[test]
    fn every_key_of_the_page_is_in_the_english_catalogue() {
        let english = catalogue("en").expect("en");
        let mut rest = INDEX_HTML;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let end = after.find("}}").expect("closed");
            let key = &after[..end];
            assert!(
                key == "lang" || INSTRUCTION_SLOTS.contains(&key) || english.contains_key(key),
                "{key}"
            );
            rest = &after[end + 2..];
        }
    }

    #[test]
    fn the_page_has_no_unreplaced_key_and_no_inline_script() {
        for lang in LANGUAGES {
            let html = render_index(lang, "<b>x</b>\"");
            assert!(html.contains("data-content=\"&lt;b&gt;x&lt;/b&gt;&quot;\""));
            assert!(!html.contains("{{"), "{lang}");
            assert!(html.contains(&format!("lang=\"{lang}\"")));
            // Every script comes from a file of this origin.
            for (i, _) in html.match_indices("<script") {
                let tag = &html[i..i + html[i..].find('>').unwrap_or(0)];
                assert!(tag.contains("src=\"/assets/"), "{tag}");
            }
            assert!(!html.contains(" style="), "no inline style attribute");
            assert!(!html.contains("<style"), "no inline style element");
        }
    }
}
