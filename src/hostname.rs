//! What counts as a host name: an IP address, or a DNS name of dot-separated labels. One
//! rule for every place a user names a host we will connect to or put in a certificate.

/// Whether `s` is an IPv4 or IPv6 address, or a DNS name (dot-separated labels of 1-63
/// letters, digits, `-` and `_`, not starting or ending with `-`, 253 characters at most, one
/// trailing dot allowed).
pub fn is_ip_or_dns_name(s: &str) -> bool {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok)
}

/// The words that say what [`is_ip_or_dns_name`] allows, for error messages.
pub const ALLOWED: &str = "an IPv4 or IPv6 address, or dot-separated labels of 1-63 letters, digits, '-' and '_', not starting or ending with '-'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_pass_and_anything_else_fails() {
        for ok in [
            "10.0.0.4",
            "::1",
            "api.example.com",
            "api.example.com.",
            "k3s_api",
        ] {
            assert!(is_ip_or_dns_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "a..b",
            "x y",
            "127.0.0.1/1; touch X",
            "a-",
            &"a".repeat(64),
        ] {
            assert!(!is_ip_or_dns_name(bad), "{bad}");
        }
    }
}
