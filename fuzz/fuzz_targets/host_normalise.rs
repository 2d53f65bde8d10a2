//! Any string → `Host::parse`.
//!
//! Normalisation must not panic, must be idempotent, and what it produces
//! must be in the one canonical form the token's host rules compare against.

#![no_main]

use kelos_token::{Host, HostClass};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let Ok(host) = Host::parse(raw) else { return };
    let canonical = host.as_str();

    // Idempotent.
    assert_eq!(Host::parse(canonical).as_ref(), Ok(&host), "{raw:?}");
    assert_eq!(host.to_string(), canonical);

    // Canonical: no upper case, no trailing dot, only allowed characters.
    assert!(
        !canonical.bytes().any(|b| b.is_ascii_uppercase()),
        "{canonical:?}"
    );
    let name = host.name();
    let port = canonical
        .strip_prefix(name)
        .unwrap_or_else(|| panic!("{canonical:?} does not start with its name {name:?}"));
    assert!(!name.is_empty(), "{raw:?}");
    assert!(!name.ends_with('.'), "{raw:?} → {canonical:?}");
    if let Some(inner) = name.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .unwrap_or_else(|| panic!("{canonical:?}"));
        assert!(!inner.is_empty());
        assert!(
            inner
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b':' | b'.')),
            "{canonical:?}"
        );
    } else {
        assert!(
            name.bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_')),
            "{canonical:?}"
        );
    }
    if !port.is_empty() {
        let digits = port
            .strip_prefix(':')
            .unwrap_or_else(|| panic!("{canonical:?}"));
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{canonical:?}");
        assert!(
            matches!(digits.parse::<u32>(), Ok(1..=65535)),
            "{canonical:?}"
        );
    }

    // Blind to ASCII case and to one trailing dot on the name.
    assert_eq!(
        Host::parse(&raw.to_ascii_uppercase()).as_ref(),
        Ok(&host),
        "{raw:?}"
    );
    assert_eq!(
        Host::parse(&format!("{name}.{port}")).as_ref(),
        Ok(&host),
        "{raw:?}"
    );

    // The rules built on it hold up.
    let class = host.class();
    let gh_name = host.gh_name();
    match class {
        HostClass::Dotcom => assert_eq!(gh_name, "github.com"),
        HostClass::Local => assert_eq!(gh_name, "github.localhost"),
        HostClass::Tenancy => {
            assert!(gh_name.ends_with(".ghe.com") && name.ends_with(&gh_name));
            let tenant = Host::parse(&gh_name).expect("a tenant's gh name is a host");
            assert_eq!(tenant.class(), HostClass::Tenancy);
            assert_eq!(tenant.gh_name(), gh_name);
        }
        HostClass::Enterprise => assert_eq!(gh_name, name),
    }
    let _ = class.fallback_vars();
    if host.is_loopback() {
        assert!(
            name == "localhost"
                || name.ends_with(".localhost")
                || name == "[::1]"
                || name.starts_with("127."),
            "{canonical:?}"
        );
    }
    // An IP address has no gist host; a name has one, in canonical form.
    let is_ip = name.starts_with('[')
        || name
            .split('.')
            .all(|l| l.bytes().all(|b| b.is_ascii_digit()));
    match host.gist() {
        None => assert!(is_ip, "{canonical:?} has no gist host"),
        Some(gist) => {
            assert!(!is_ip, "{canonical:?} is an IP address");
            assert_eq!(gist.as_str(), format!("gist.{canonical}"));
            assert_eq!(Host::parse(gist.as_str()).as_ref(), Ok(&gist));
            let _ = (gist.class(), gist.gh_name(), gist.is_loopback());
        }
    }
});
