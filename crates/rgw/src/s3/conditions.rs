//! Conditional requests as S3 evaluates them: `If-Match` / `If-Unmodified-Since` fail
//! with 412, `If-None-Match` / `If-Modified-Since` answer 304 (GET, HEAD); a true
//! `If-Match` overrides a false `If-Unmodified-Since`, and a false `If-None-Match`
//! overrides a true `If-Modified-Since`. Copy-source conditions all fail with 412.

use s3s::dto::{ETagCondition, Timestamp};
use s3s::{S3Result, s3_error};

use crate::records::IndexEntry;

/// The four conditions of a request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Conds<'a> {
    /// If-Match.
    pub if_match: Option<&'a ETagCondition>,
    /// If-None-Match.
    pub if_none_match: Option<&'a ETagCondition>,
    /// If-Modified-Since.
    pub if_modified_since: Option<&'a Timestamp>,
    /// If-Unmodified-Since.
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn secs(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

/// Whether an ETag condition matches an object's ETag.
pub fn etag_matches(c: &ETagCondition, etag: &str) -> bool {
    match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value().trim_matches('"') == etag,
    }
}

/// Which condition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All hold.
    Proceed,
    /// 412.
    PreconditionFailed,
    /// 304.
    NotModified,
}

/// Evaluates the conditions against an object.
pub fn evaluate(c: &Conds<'_>, e: &IndexEntry) -> Outcome {
    let mtime = (e.mtime_ms / 1000) as i64;
    if let Some(m) = c.if_match {
        if !etag_matches(m, &e.etag) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(t) = c.if_unmodified_since
        && mtime > secs(t)
    {
        return Outcome::PreconditionFailed;
    }
    if let Some(m) = c.if_none_match {
        if etag_matches(m, &e.etag) {
            return Outcome::NotModified;
        }
    } else if let Some(t) = c.if_modified_since
        && mtime <= secs(t)
    {
        return Outcome::NotModified;
    }
    Outcome::Proceed
}

/// GET/HEAD conditions.
pub fn check_read(c: &Conds<'_>, e: &IndexEntry) -> S3Result<()> {
    match evaluate(c, e) {
        Outcome::Proceed => Ok(()),
        Outcome::PreconditionFailed => Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )),
        Outcome::NotModified => {
            // S3's 304 still carries the validators (ETag, Last-Modified).
            let mut err = s3_error!(NotModified);
            let mut h = http::HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", e.etag)) {
                h.insert(http::header::ETAG, v);
            }
            if let Some(v) = super::headers::http_date(&super::ts(e.mtime_ms))
                .and_then(|d| http::HeaderValue::from_str(&d).ok())
            {
                h.insert(http::header::LAST_MODIFIED, v);
            }
            err.set_headers(h);
            Err(err)
        }
    }
}

/// Copy-source conditions.
pub fn check_copy(c: &Conds<'_>, e: &IndexEntry) -> S3Result<()> {
    match evaluate(c, e) {
        Outcome::Proceed => Ok(()),
        _ => Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::VERSION;
    use s3s::dto::ETag;
    use std::time::SystemTime;

    fn entry() -> IndexEntry {
        IndexEntry {
            v: VERSION,
            size: 1,
            etag: "abc".into(),
            mtime_ms: 1_000_000_000_000,
            owner: "o".into(),
            content_type: None,
            headers: Default::default(),
            meta: Default::default(),
            checksum: None,
            data: Vec::new(),
            parts: Vec::new(),
            part_checksums: Vec::new(),
            acl: None,
            inline: false,
            body: None,
        }
    }

    fn at(s: u64) -> Timestamp {
        Timestamp::from(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s))
    }

    #[test]
    fn s3_precedence_rules() {
        let e = entry();
        let yes = ETagCondition::ETag(ETag::Strong("abc".into()));
        let no = ETagCondition::ETag(ETag::Strong("zzz".into()));
        let before = at(999_999_999);
        let after = at(1_000_000_001);
        let c = |m, nm, ms, us| Conds {
            if_match: m,
            if_none_match: nm,
            if_modified_since: ms,
            if_unmodified_since: us,
        };
        assert_eq!(
            evaluate(&c(Some(&yes), None, None, None), &e),
            Outcome::Proceed
        );
        assert_eq!(
            evaluate(&c(Some(&no), None, None, None), &e),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            evaluate(&c(None, Some(&yes), None, None), &e),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&c(None, Some(&ETagCondition::Any), None, None), &e),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&c(None, None, Some(&after), None), &e),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&c(None, None, Some(&before), None), &e),
            Outcome::Proceed
        );
        assert_eq!(
            evaluate(&c(None, None, None, Some(&before)), &e),
            Outcome::PreconditionFailed
        );
        // If-Match true beats If-Unmodified-Since false.
        assert_eq!(
            evaluate(&c(Some(&yes), None, None, Some(&before)), &e),
            Outcome::Proceed
        );
        // If-None-Match false beats If-Modified-Since true.
        assert_eq!(
            evaluate(&c(None, Some(&no), Some(&after), None), &e),
            Outcome::Proceed
        );
    }
}
