//! Cross-origin resource sharing: a bucket's CORS rules, the answer to a browser's preflight
//! (`OPTIONS`), and the headers that let a page of an allowed origin read an answer.
//!
//! As S3 does, the first rule that allows the origin, the method and every requested header
//! decides; an origin or a header pattern may hold one `*` wildcard.

use s3s::dto;
use serde::{Deserialize, Serialize};

/// The most rules a configuration may hold (S3's limit).
pub const MAX_RULES: usize = 100;

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    /// Its ID, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Origin patterns.
    pub origins: Vec<String>,
    /// Methods (GET, PUT, POST, DELETE, HEAD).
    pub methods: Vec<String>,
    /// Request header patterns a preflight may ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Response headers the page may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// How long a browser may keep the preflight's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i32>,
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorsError {
    /// More than [`MAX_RULES`] rules, or none.
    #[error("a CORS configuration holds 1 to {MAX_RULES} rules")]
    RuleCount,
    /// A method S3 does not know for CORS.
    #[error("unsupported method {0:?}: CORS rules allow GET, PUT, POST, DELETE and HEAD")]
    Method(String),
    /// A pattern with more than one wildcard.
    #[error("{0:?} holds more than one wildcard")]
    Wildcards(String),
    /// A rule allowing no origin or no method.
    #[error("every rule needs an AllowedOrigin and an AllowedMethod")]
    Empty,
}

const METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "HEAD"];

impl CorsRule {
    fn allows(&self, origin: &str, method: &str, headers: &[&str]) -> bool {
        self.origins.iter().any(|p| matches(p, origin, false))
            && self.methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| self.headers.iter().any(|p| matches(p, h, true)))
    }

    /// The `Access-Control-Allow-Origin` for `origin`: `*` when the rule allows every origin.
    fn allow_origin<'a>(&self, origin: &'a str) -> &'a str {
        if self.origins.iter().any(|p| p == "*") {
            "*"
        } else {
            origin
        }
    }
}

/// Whether `value` fits `pattern` (one `*` at most).
fn matches(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (pattern, value) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_string(), value.to_string())
    };
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.starts_with(head)
                && value.ends_with(tail)
        }
    }
}

/// The rules of a PutBucketCors body, checked.
pub fn rules_of(config: dto::CORSConfiguration) -> Result<Vec<CorsRule>, CorsError> {
    if config.cors_rules.is_empty() || config.cors_rules.len() > MAX_RULES {
        return Err(CorsError::RuleCount);
    }
    config
        .cors_rules
        .into_iter()
        .map(|rule| {
            if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
                return Err(CorsError::Empty);
            }
            if let Some(m) = rule
                .allowed_methods
                .iter()
                .find(|m| !METHODS.contains(&m.as_str()))
            {
                return Err(CorsError::Method(m.clone()));
            }
            let headers = rule.allowed_headers.unwrap_or_default();
            if let Some(p) = rule
                .allowed_origins
                .iter()
                .chain(&headers)
                .find(|p| p.matches('*').count() > 1)
            {
                return Err(CorsError::Wildcards(p.clone()));
            }
            Ok(CorsRule {
                id: rule.id,
                origins: rule.allowed_origins,
                methods: rule.allowed_methods,
                headers,
                expose: rule.expose_headers.unwrap_or_default(),
                max_age: rule.max_age_seconds,
            })
        })
        .collect()
}

/// The rules as GetBucketCors shows them.
pub fn shown(rules: &[CorsRule]) -> dto::CORSRules {
    rules
        .iter()
        .map(|r| dto::CORSRule {
            allowed_headers: (!r.headers.is_empty()).then(|| r.headers.clone()),
            allowed_methods: r.methods.clone(),
            allowed_origins: r.origins.clone(),
            expose_headers: (!r.expose.is_empty()).then(|| r.expose.clone()),
            id: r.id.clone(),
            max_age_seconds: r.max_age,
        })
        .collect()
}

/// The response headers a CORS answer carries, by name.
pub type Headers = Vec<(&'static str, String)>;

/// The answer to a preflight from `origin` for `method` with `headers`, or `None` when no rule
/// allows it.
pub fn preflight(
    rules: &[CorsRule],
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Option<Headers> {
    let rule = rules.iter().find(|r| r.allows(origin, method, headers))?;
    let mut out = common(rule, origin);
    out.push(("access-control-allow-methods", rule.methods.join(", ")));
    if !headers.is_empty() {
        out.push(("access-control-allow-headers", headers.join(", ")));
    }
    if let Some(age) = rule.max_age {
        out.push(("access-control-max-age", age.to_string()));
    }
    Some(out)
}

/// The headers an actual request from `origin` with `method` gets, when a rule allows it.
pub fn actual(rules: &[CorsRule], origin: &str, method: &str) -> Option<Headers> {
    let rule = rules.iter().find(|r| r.allows(origin, method, &[]))?;
    let mut out = common(rule, origin);
    out.push(("access-control-allow-methods", rule.methods.join(", ")));
    if let Some(age) = rule.max_age {
        out.push(("access-control-max-age", age.to_string()));
    }
    Some(out)
}

fn common(rule: &CorsRule, origin: &str) -> Headers {
    let allow = rule.allow_origin(origin);
    let mut out = vec![("access-control-allow-origin", allow.to_string())];
    if allow != "*" {
        out.push(("access-control-allow-credentials", "true".into()));
    }
    if !rule.expose.is_empty() {
        out.push(("access-control-expose-headers", rule.expose.join(", ")));
    }
    out.push((
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".into(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            id: None,
            origins: origins.iter().map(|s| s.to_string()).collect(),
            methods: methods.iter().map(|s| s.to_string()).collect(),
            headers: headers.iter().map(|s| s.to_string()).collect(),
            expose: vec!["ETag".into()],
            max_age: Some(600),
        }
    }

    #[test]
    fn the_first_rule_that_allows_decides() {
        let rules = [
            rule(
                &["https://*.example.com"],
                &["GET", "PUT"],
                &["x-amz-*", "content-type"],
            ),
            rule(&["*"], &["GET"], &[]),
        ];
        let got = preflight(&rules, "https://app.example.com", "PUT", &["Content-Type"]).unwrap();
        assert!(got.contains(&(
            "access-control-allow-origin",
            "https://app.example.com".into()
        )));
        assert!(got.contains(&("access-control-allow-methods", "GET, PUT".into())));
        assert!(got.contains(&("access-control-max-age", "600".into())));
        assert!(preflight(&rules, "https://evil.test", "PUT", &[]).is_none());
        assert!(preflight(&rules, "https://app.example.com", "PUT", &["authorization"]).is_none());
        let any = actual(&rules, "https://evil.test", "GET").unwrap();
        assert!(any.contains(&("access-control-allow-origin", "*".into())));
        assert!(
            !any.iter()
                .any(|(h, _)| *h == "access-control-allow-credentials")
        );
        assert!(actual(&rules, "https://evil.test", "DELETE").is_none());
    }

    #[test]
    fn wildcards_take_one_star() {
        assert!(matches("*", "anything", false));
        assert!(matches("http://*.a.com", "http://x.a.com", false));
        assert!(!matches("http://*.a.com", "http://.a.co", false));
        assert!(matches("X-Amz-*", "x-amz-date", true));
        let bad = dto::CORSConfiguration {
            cors_rules: vec![dto::CORSRule {
                allowed_headers: None,
                allowed_methods: vec!["PATCH".into()],
                allowed_origins: vec!["*".into()],
                expose_headers: None,
                id: None,
                max_age_seconds: None,
            }],
        };
        assert_eq!(rules_of(bad), Err(CorsError::Method("PATCH".into())));
    }
}
