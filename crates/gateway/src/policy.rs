//! Bucket policies: S3's JSON policy language, checked when put and evaluated on every request
//! to the bucket. A statement applies when its principal, action, resource and every
//! condition match the request; an applying Deny wins over everything, an applying Allow
//! grants what the ACLs would not, and with neither the ACLs decide.
//!
//! Principals are access keys (bare, `arn:aws:iam::KEY:root` or `arn:aws:iam::*:user/KEY`) or
//! `*` (everyone, anonymous requests too). Actions and resources take `*` and `?` wildcards.
//! Condition operators: String(Not)Equals(IgnoreCase), String(Not)Like, Numeric*, Date*,
//! Bool, (Not)IpAddress, Null, Arn*; with `ForAnyValue:` / `ForAllValues:` and `…IfExists`.

use std::collections::HashMap;
use std::net::IpAddr;

use s3s::dto::{Timestamp, TimestampFormat};
use serde_json::Value;

/// S3's largest policy.
pub const MAX_POLICY: usize = 20 << 10;

/// Why a policy is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

fn bad(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// Names matched by a list of patterns, or by everything outside it (`Not…`).
#[derive(Debug, Clone)]
struct Patterns {
    patterns: Vec<String>,
    negated: bool,
}

impl Patterns {
    fn matches(&self, value: &str, ignore_case: bool) -> bool {
        let hit = self.patterns.iter().any(|p| {
            if ignore_case {
                glob(&p.to_ascii_lowercase(), &value.to_ascii_lowercase())
            } else {
                glob(p, value)
            }
        });
        hit != self.negated
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    Equals,
    EqualsIgnoreCase,
    Like,
    NumEq,
    NumLt,
    NumLe,
    NumGt,
    NumGe,
    DateEq,
    DateLt,
    DateLe,
    DateGt,
    DateGe,
    Bool,
    Ip,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sets {
    Single,
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone)]
struct Condition {
    test: Test,
    negated: bool,
    sets: Sets,
    if_exists: bool,
    /// Lower case: context keys are case-insensitive.
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    /// `None`: everyone.
    principals: Option<Vec<String>>,
    principals_negated: bool,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

/// A checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// What a policy says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An applying statement allows it.
    Allow,
    /// An applying statement denies it.
    Deny,
    /// No statement applies.
    Silent,
}

/// A request as policies see it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The access key; `None`: anonymous.
    pub principal: Option<String>,
    /// `s3:GetObject` and the like.
    pub action: String,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: String,
    /// Condition keys (lower case) and their values.
    pub context: HashMap<String, Vec<String>>,
}

/// The ARN of a bucket, or of a key in it.
pub fn arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

/// Whether `value` fits `pattern`, where `*` is any run of characters and `?` any one.
pub fn glob(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A string or a list of strings.
fn strings(value: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(bad(format!("{what} holds a value that is not a string"))),
            })
            .collect(),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        _ => Err(bad(format!("{what} is not a string or a list of strings"))),
    }
}

/// A principal pattern as the access key it names.
fn principal_key(principal: &str) -> String {
    match principal.strip_prefix("arn:aws:iam::") {
        Some(rest) => match rest.split_once(':') {
            Some((_, user)) if user.starts_with("user/") => user["user/".len()..].to_string(),
            Some((account, _)) => account.to_string(),
            None => rest.to_string(),
        },
        None => principal.to_string(),
    }
}

fn principals(value: &Value) -> Result<Option<Vec<String>>, PolicyError> {
    match value {
        Value::String(s) if s == "*" => Ok(None),
        Value::Object(map) => {
            let mut keys = Vec::new();
            for (kind, ids) in map {
                if !matches!(kind.as_str(), "AWS" | "CanonicalUser") {
                    return Err(bad(format!("Invalid principal type {kind:?} in policy")));
                }
                for id in strings(ids, "Principal")? {
                    if id == "*" {
                        return Ok(None);
                    }
                    keys.push(principal_key(&id));
                }
            }
            Ok(Some(keys))
        }
        _ => Err(bad("Invalid principal in policy")),
    }
}

fn test_of(name: &str) -> Option<(Test, bool)> {
    Some(match name {
        "StringEquals" => (Test::Equals, false),
        "StringNotEquals" => (Test::Equals, true),
        "StringEqualsIgnoreCase" => (Test::EqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Test::EqualsIgnoreCase, true),
        "StringLike" | "ArnLike" | "ArnEquals" => (Test::Like, false),
        "StringNotLike" | "ArnNotLike" | "ArnNotEquals" => (Test::Like, true),
        "NumericEquals" => (Test::NumEq, false),
        "NumericNotEquals" => (Test::NumEq, true),
        "NumericLessThan" => (Test::NumLt, false),
        "NumericLessThanEquals" => (Test::NumLe, false),
        "NumericGreaterThan" => (Test::NumGt, false),
        "NumericGreaterThanEquals" => (Test::NumGe, false),
        "DateEquals" => (Test::DateEq, false),
        "DateNotEquals" => (Test::DateEq, true),
        "DateLessThan" => (Test::DateLt, false),
        "DateLessThanEquals" => (Test::DateLe, false),
        "DateGreaterThan" => (Test::DateGt, false),
        "DateGreaterThanEquals" => (Test::DateGe, false),
        "Bool" => (Test::Bool, false),
        "IpAddress" => (Test::Ip, false),
        "NotIpAddress" => (Test::Ip, true),
        "Null" => (Test::Null, false),
        _ => return None,
    })
}

fn conditions(value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = value else {
        return Err(bad("Condition is not an object"));
    };
    let mut out = Vec::new();
    for (operator, keys) in operators {
        let (sets, rest) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
            (Sets::AnyValue, rest)
        } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
            (Sets::AllValues, rest)
        } else {
            (Sets::Single, operator.as_str())
        };
        let (name, if_exists) = match rest.strip_suffix("IfExists") {
            Some(name) => (name, true),
            None => (rest, false),
        };
        let Some((test, negated)) = test_of(name) else {
            return Err(bad(format!("Invalid Condition type : {operator}")));
        };
        let Value::Object(keys) = keys else {
            return Err(bad(format!(
                "{operator} is not an object of condition keys"
            )));
        };
        for (key, values) in keys {
            let values = strings(values, key)?;
            for v in &values {
                let valid = match test {
                    Test::NumEq | Test::NumLt | Test::NumLe | Test::NumGt | Test::NumGe => {
                        v.parse::<f64>().is_ok()
                    }
                    Test::DateEq | Test::DateLt | Test::DateLe | Test::DateGt | Test::DateGe => {
                        date(v).is_some()
                    }
                    Test::Bool | Test::Null => v == "true" || v == "false",
                    Test::Ip => Cidr::parse(v).is_some(),
                    Test::Equals | Test::EqualsIgnoreCase | Test::Like => true,
                };
                if !valid {
                    return Err(bad(format!("Invalid value {v:?} for {operator} {key}")));
                }
            }
            out.push(Condition {
                test,
                negated,
                sets,
                if_exists,
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

fn field<'a>(statement: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    statement.get(name)
}

fn patterns(
    statement: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Patterns, PolicyError> {
    let not = format!("Not{name}");
    match (field(statement, name), field(statement, &not)) {
        (Some(v), None) => Ok(Patterns {
            patterns: strings(v, name)?,
            negated: false,
        }),
        (None, Some(v)) => Ok(Patterns {
            patterns: strings(v, &not)?,
            negated: true,
        }),
        (Some(_), Some(_)) => Err(bad(format!("a statement has both {name} and {not}"))),
        (None, None) => Err(bad(format!("Missing required field {name}"))),
    }
}

impl Policy {
    /// Parses and checks a policy put on bucket `bucket`.
    pub fn parse(text: &str, bucket: &str) -> Result<Self, PolicyError> {
        Self::read(text, Some(bucket))
    }

    /// Parses a stored policy (checked when it was put; its bucket may have been renamed
    /// since).
    pub fn load(text: &str) -> Result<Self, PolicyError> {
        Self::read(text, None)
    }

    fn read(text: &str, bucket: Option<&str>) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY {
            return Err(bad("Policies must be no more than 20 KB"));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("This policy contains invalid Json: {e}")))?;
        let Value::Object(top) = value else {
            return Err(bad("a policy is a JSON object"));
        };
        if let Some(version) = top.get("Version")
            && !matches!(version.as_str(), Some("2012-10-17" | "2008-10-17"))
        {
            return Err(bad("The policy must contain a valid version string"));
        }
        let statements = match top.get("Statement") {
            Some(Value::Array(items)) => items.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => return Err(bad("Missing required field Statement")),
        };
        if statements.is_empty() {
            return Err(bad("Missing required field Statement"));
        }
        let mut out = Vec::new();
        for statement in &statements {
            let Value::Object(s) = statement else {
                return Err(bad("a statement is a JSON object"));
            };
            let effect = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                _ => return Err(bad("Invalid effect: a statement's Effect is Allow or Deny")),
            };
            let (principals, principals_negated) = match (s.get("Principal"), s.get("NotPrincipal"))
            {
                (Some(p), None) => (principals(p)?, false),
                (None, Some(p)) => (principals(p)?, true),
                _ => return Err(bad("Missing required field Principal")),
            };
            if principals_negated && effect == Effect::Allow {
                return Err(bad(
                    "NotPrincipal goes only with \"Effect\": \"Deny\" in a bucket policy",
                ));
            }
            let actions = patterns(s, "Action")?;
            for action in &actions.patterns {
                let valid = action == "*"
                    || action.strip_prefix("s3:").is_some_and(|name| {
                        !name.is_empty()
                            && name
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
                    });
                if !valid {
                    return Err(bad(format!("Policy has invalid action {action:?}")));
                }
            }
            let resources = patterns(s, "Resource")?;
            for resource in &resources.patterns {
                let of_bucket = resource.strip_prefix("arn:aws:s3:::").is_some_and(|path| {
                    let pattern = path.split('/').next().unwrap_or_default();
                    bucket.is_none_or(|bucket| glob(pattern, bucket))
                });
                if !of_bucket {
                    let bucket = bucket.unwrap_or("BUCKET");
                    return Err(bad(format!(
                        "Policy has invalid resource {resource:?}: it must be this bucket \
                         (arn:aws:s3:::{bucket}) or keys in it (arn:aws:s3:::{bucket}/…)"
                    )));
                }
            }
            let conditions = match s.get("Condition") {
                Some(c) => conditions(c)?,
                None => Vec::new(),
            };
            out.push(Statement {
                effect,
                principals,
                principals_negated,
                actions,
                resources,
                conditions,
            });
        }
        Ok(Self { statements: out })
    }

    /// A policy denying everything to everyone (but the bucket's owner, who may still manage
    /// the policy).
    pub fn deny_all() -> Self {
        Self {
            statements: vec![Statement {
                effect: Effect::Deny,
                principals: None,
                principals_negated: false,
                actions: Patterns {
                    patterns: vec!["*".into()],
                    negated: false,
                },
                resources: Patterns {
                    patterns: vec!["*".into()],
                    negated: false,
                },
                conditions: Vec::new(),
            }],
        }
    }

    /// Whether a condition tests an object's tags (`s3:ExistingObjectTag/…`), which the
    /// request then needs.
    pub fn mentions_object_tags(&self) -> bool {
        self.statements.iter().any(|s| {
            s.conditions
                .iter()
                .any(|c| c.key.starts_with("s3:existingobjecttag/"))
        })
    }

    /// What the policy says of `request`.
    pub fn evaluate(&self, request: &Request) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if !s.applies(request) {
                continue;
            }
            match s.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::Silent
        }
    }
}

impl Statement {
    fn applies(&self, r: &Request) -> bool {
        let named = match &self.principals {
            None => true,
            Some(keys) => r
                .principal
                .as_deref()
                .is_some_and(|p| keys.iter().any(|k| glob(k, p))),
        };
        named != self.principals_negated
            && self.actions.matches(&r.action, true)
            && self.resources.matches(&r.resource, false)
            && self.conditions.iter().all(|c| c.holds(&r.context))
    }
}

impl Condition {
    fn holds(&self, context: &HashMap<String, Vec<String>>) -> bool {
        let present = context.get(&self.key).filter(|v| !v.is_empty());
        if self.test == Test::Null {
            let wants_absent = self.values.iter().any(|v| v == "true");
            return present.is_none() == wants_absent;
        }
        let Some(values) = present else {
            return self.if_exists || self.negated || self.sets == Sets::AllValues;
        };
        let one = |v: &str| self.values.iter().any(|c| self.test.holds(v, c)) != self.negated;
        match self.sets {
            Sets::Single | Sets::AnyValue => values.iter().any(|v| one(v)),
            Sets::AllValues => values.iter().all(|v| one(v)),
        }
    }
}

impl Test {
    fn holds(self, value: &str, wanted: &str) -> bool {
        let numbers = || Some((value.parse::<f64>().ok()?, wanted.parse::<f64>().ok()?));
        let dates = || Some((date(value)?, date(wanted)?));
        match self {
            Self::Equals => value == wanted,
            Self::EqualsIgnoreCase => value.eq_ignore_ascii_case(wanted),
            Self::Like => glob(wanted, value),
            Self::NumEq => numbers().is_some_and(|(a, b)| a == b),
            Self::NumLt => numbers().is_some_and(|(a, b)| a < b),
            Self::NumLe => numbers().is_some_and(|(a, b)| a <= b),
            Self::NumGt => numbers().is_some_and(|(a, b)| a > b),
            Self::NumGe => numbers().is_some_and(|(a, b)| a >= b),
            Self::DateEq => dates().is_some_and(|(a, b)| a == b),
            Self::DateLt => dates().is_some_and(|(a, b)| a < b),
            Self::DateLe => dates().is_some_and(|(a, b)| a <= b),
            Self::DateGt => dates().is_some_and(|(a, b)| a > b),
            Self::DateGe => dates().is_some_and(|(a, b)| a >= b),
            Self::Bool => value.eq_ignore_ascii_case(wanted),
            Self::Ip => match (value.parse::<IpAddr>(), Cidr::parse(wanted)) {
                (Ok(ip), Some(cidr)) => cidr.contains(ip),
                _ => false,
            },
            Self::Null => false,
        }
    }
}

/// A date as seconds since the epoch: ISO 8601 / RFC 3339, or epoch seconds.
fn date(text: &str) -> Option<i64> {
    if let Ok(secs) = text.parse::<i64>() {
        return Some(secs);
    }
    let stamp = Timestamp::parse(TimestampFormat::DateTime, text).ok()?;
    Some(time::OffsetDateTime::from(stamp).unix_timestamp())
}

/// An address block, `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a.parse::<IpAddr>().ok()?, b.parse::<u8>().ok()?),
            None => {
                let a = text.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Self { net: addr, bits })
    }

    fn contains(self, ip: IpAddr) -> bool {
        let ip = match (self.net, ip) {
            (IpAddr::V6(_), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            _ => ip,
        };
        let (a, b, width) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32u32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128u32),
            _ => return false,
        };
        let bits = u32::from(self.bits);
        if bits == 0 {
            return true;
        }
        let shift = width - bits;
        (a >> shift) == (b >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(principal: Option<&str>, action: &str, key: Option<&str>) -> Request {
        Request {
            principal: principal.map(str::to_string),
            action: action.into(),
            resource: arn("photos", key),
            context: HashMap::new(),
        }
    }

    #[test]
    fn globs_take_stars_and_question_marks() {
        assert!(glob("*", ""));
        assert!(glob("arn:aws:s3:::photos/*", "arn:aws:s3:::photos/a/b"));
        assert!(glob("a?c*", "abcdef"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*.jpg", "x.y.jpg"));
        assert!(!glob("*.jpg", "x.jpeg"));
    }

    #[test]
    fn deny_wins_and_silence_leaves_it_to_the_acls() {
        let policy = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
                 "Resource":"arn:aws:s3:::photos/public/*"},
                {"Effect":"Deny","Principal":{"AWS":["arn:aws:iam::bob:root"]},
                 "Action":"s3:*","Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}]}"#,
            "photos",
        )
        .unwrap();
        let get = |who, key| policy.evaluate(&request(who, "s3:GetObject", Some(key)));
        assert_eq!(get(None, "public/a.jpg"), Decision::Allow);
        assert_eq!(get(None, "private/a.jpg"), Decision::Silent);
        assert_eq!(get(Some("bob"), "public/a.jpg"), Decision::Deny);
        assert_eq!(
            policy.evaluate(&request(Some("ana"), "s3:ListBucket", None)),
            Decision::Silent
        );
    }

    #[test]
    fn conditions_test_the_request() {
        let policy = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket",
                "Resource":"arn:aws:s3:::photos",
                "Condition":{"StringLike":{"s3:prefix":"home/*"},
                             "IpAddress":{"aws:SourceIp":"127.0.0.0/8"},
                             "NumericLessThanEquals":{"s3:max-keys":"100"}}}}"#,
            "photos",
        )
        .unwrap();
        let mut r = request(None, "s3:ListBucket", None);
        r.context
            .insert("s3:prefix".into(), vec!["home/ana/".into()]);
        r.context
            .insert("aws:sourceip".into(), vec!["127.0.0.9".into()]);
        r.context.insert("s3:max-keys".into(), vec!["50".into()]);
        assert_eq!(policy.evaluate(&r), Decision::Allow);
        r.context
            .insert("aws:sourceip".into(), vec!["10.1.1.1".into()]);
        assert_eq!(policy.evaluate(&r), Decision::Silent);
        r.context.remove("aws:sourceip");
        assert_eq!(policy.evaluate(&r), Decision::Silent);
    }

    #[test]
    fn bad_policies_say_why() {
        for (text, why) in [
            ("{", "invalid Json"),
            (r#"{"Statement":[]}"#, "Statement"),
            (
                r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos"}]}"#,
                "effect",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}]}"#,
                "resource",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:Run","Resource":"arn:aws:s3:::photos"}]}"#,
                "action",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos","Condition":{"Sometimes":{"a":"b"}}}]}"#,
                "Condition",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::photos"}]}"#,
                "Principal",
            ),
        ] {
            let err = Policy::parse(text, "photos").unwrap_err();
            assert!(err.0.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn address_blocks_hold_their_addresses() {
        let block = Cidr::parse("192.168.0.0/16").unwrap();
        assert!(block.contains("192.168.7.1".parse().unwrap()));
        assert!(!block.contains("192.169.0.1".parse().unwrap()));
        assert!(block.contains("::ffff:192.168.1.1".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }
}
