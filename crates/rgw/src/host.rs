//! Virtual-hosted-style addressing: with a DNS suffix configured (`s3.example.org`),
//! host `photos.s3.example.org` names bucket `photos`. Any other host (the suffix
//! itself, an IP address, `localhost`) is path-style, so path-style always works.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// The configured DNS suffix.
#[derive(Debug, Clone)]
pub struct DnsSuffix {
    suffix: String,
}

impl DnsSuffix {
    /// For suffix `s` (lower-cased, without port).
    pub fn new(s: &str) -> DnsSuffix {
        DnsSuffix {
            suffix: s.trim_end_matches('.').to_ascii_lowercase(),
        }
    }

    /// The bucket a Host header names, if it is virtual-hosted-style.
    pub fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = match host.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        let name = name.trim_end_matches('.');
        if name.len() <= self.suffix.len() + 1 {
            return None;
        }
        let (bucket, rest) = name.split_at(name.len() - self.suffix.len());
        (rest.eq_ignore_ascii_case(&self.suffix) && bucket.ends_with('.'))
            .then(|| &bucket[..bucket.len() - 1])
            .filter(|b| !b.is_empty())
    }
}

impl S3Host for DnsSuffix {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of(host) {
            Some(b) => VirtualHost::new(self.suffix.as_str()).with_bucket(b),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_come_from_the_subdomain_only() {
        let d = DnsSuffix::new("s3.example.org");
        assert_eq!(d.bucket_of("photos.s3.example.org"), Some("photos"));
        assert_eq!(d.bucket_of("photos.s3.example.org:7480"), Some("photos"));
        assert_eq!(
            d.bucket_of("my.dotted.bucket.s3.example.org"),
            Some("my.dotted.bucket")
        );
        assert_eq!(d.bucket_of("s3.example.org"), None);
        assert_eq!(d.bucket_of("127.0.0.1:7480"), None);
        assert_eq!(d.bucket_of("xs3.example.org"), None);
        assert_eq!(d.bucket_of("localhost"), None);
    }
}
