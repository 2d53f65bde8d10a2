//! A provider (GitHub, and next GitLab) as data: every name the binaries
//! read or set for it, and the rules that differ between providers, as
//! values in one [`Provider`]. The code that reads the token, picks the
//! fallbacks, sets a consumer's variables and finds the CLI it wraps is
//! written once and takes a provider; adding one is adding a value (and
//! whatever is truly new about it, such as how its host variables are
//! parsed).

use std::ffi::OsStr;

use crate::env::EnvSnapshot;

use crate::gitlab_host::{parse_gitlab_host, GitlabHost, GitlabHostError};
use crate::host::{HostClass, HostInputError};

/// How a provider's host variables are written.
#[derive(Clone, Copy, Debug)]
pub enum HostSyntax {
    /// A host name alone (GitHub's `GH_HOST`), read by this function: the
    /// one place that turns the value into a host or a message naming what
    /// is wrong with it.
    Name(fn(name: &'static str, raw: &OsStr) -> Result<crate::Host, HostInputError>),
    /// An instance's base URL or a bare host (GitLab's `GITLAB_HOST`),
    /// read by [`parse_gitlab_host`]: a scheme, a port and a URL root.
    Url,
}

/// The variables that hold a token for hosts of some classes, and what a
/// consumer sets for them.
#[derive(Debug)]
pub struct ClassVars {
    /// The classes these rules are for; empty in [`Provider::other_classes`].
    pub classes: &'static [HostClass],
    /// Consulted in order when the token file yields nothing (CONTRACT:
    /// *Reading the token*, step 5).
    pub fallbacks: &'static [&'static str],
    /// What the CLI wrapper always sets to the file's token.
    pub wrapper_sets: &'static [&'static str],
    /// What it sets only when the variable is already in the environment,
    /// so that a stale copy cannot outlive the rotation and no variable
    /// appears that was not there before except the CLI's own.
    pub wrapper_sets_if_present: &'static [&'static str],
}

/// One provider: its names and its per-class rules.
#[derive(Debug)]
pub struct Provider {
    /// As a person reads it: `GitHub`.
    pub name: &'static str,
    /// The variable naming the token file kubelet keeps fresh.
    pub token_file_var: &'static str,
    /// Every variable that may hold a token, in the order `env` and `exec`
    /// write them (those present; CONTRACT: *env*).
    pub token_vars: &'static [&'static str],
    /// The rules of the classes named in each entry, first match wins.
    pub classes: &'static [ClassVars],
    /// The rules of every class no entry of `classes` names.
    pub other_classes: ClassVars,
    /// The variables that name the host, first non-empty one wins.
    pub host_vars: &'static [&'static str],
    /// How the host variables' values are read.
    pub host_syntax: HostSyntax,
    /// The host when no host variable is set.
    pub default_host: &'static str,
    /// The username git's answer carries.
    pub git_username: &'static str,
    /// The CLI the wrapper stands in for (its file name in PATH).
    pub cli: &'static str,
    /// The variable that names the real CLI, and so skips the PATH walk.
    pub cli_path_var: &'static str,
}

/// Providers are values with distinct names: two are the same provider
/// when their names are.
impl PartialEq for Provider {
    fn eq(&self, other: &Provider) -> bool {
        self.name == other.name
    }
}

impl Eq for Provider {}

impl Provider {
    /// The rules for hosts of `class`.
    pub fn class_vars(&self, class: HostClass) -> &ClassVars {
        self.classes
            .iter()
            .find(|c| c.classes.contains(&class))
            .unwrap_or(&self.other_classes)
    }

    /// The fallback variables for `class`, in order.
    pub fn fallbacks(&self, class: HostClass) -> &'static [&'static str] {
        self.class_vars(class).fallbacks
    }

    /// The variables the CLI wrapper sets to the file's token for a host of
    /// `class`: those it always sets, then those `present` says are in the
    /// environment already.
    pub fn wrapper_vars(
        &self,
        class: HostClass,
        present: impl Fn(&str) -> bool,
    ) -> Vec<&'static str> {
        let vars = self.class_vars(class);
        vars.wrapper_sets
            .iter()
            .copied()
            .chain(
                vars.wrapper_sets_if_present
                    .iter()
                    .copied()
                    .filter(|name| present(name)),
            )
            .collect()
    }

    /// The variables `env` and `exec` set: each token variable `present`
    /// says is in the environment, then each `--set` name, every name once,
    /// in that order.
    pub fn consumer_vars<'a>(
        &self,
        present: impl Fn(&str) -> bool,
        set: &'a [String],
    ) -> Vec<&'a str> {
        let mut names: Vec<&'a str> = self
            .token_vars
            .iter()
            .copied()
            .filter(|n| present(n))
            .collect();
        for name in set {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }

    /// The first of its host variables that is set and not empty, with its
    /// value.
    pub fn host_var<'e>(&self, env: &'e EnvSnapshot) -> Option<(&'static str, &'e OsStr)> {
        self.host_vars
            .iter()
            .find_map(|name| env.non_empty(name).map(|raw| (*name, raw)))
    }

    /// Whether one of its own variables is set (even empty): its token
    /// file's, a host variable, its first token variable (what its
    /// controller sets: `GITLAB_TOKEN`) or its CLI path. A provider nobody
    /// configured is not spoken of; the other token variables alone do not
    /// count (`OAUTH_TOKEN` is a name other tools use too).
    pub fn in_play(&self, env: &EnvSnapshot) -> bool {
        // Plain loops: the binary's size is counted (1 MiB).
        let own = self.token_vars.get(..1).unwrap_or_default();
        any_set(env, &[self.token_file_var, self.cli_path_var])
            || any_set(env, self.host_vars)
            || any_set(env, own)
    }

    /// Whether any variable of this provider is set (even empty): its token
    /// file's, a host variable, any token variable, its CLI path.
    pub fn any_var_set(&self, env: &EnvSnapshot) -> bool {
        self.in_play(env) || any_set(env, self.token_vars)
    }

    /// The instance its host variables name as a URL (the first non-empty
    /// one), else its default host over https. Read by [`parse_gitlab_host`]
    /// whatever the provider's [`HostSyntax`]; meant for [`HostSyntax::Url`].
    pub fn instance(&self, env: &EnvSnapshot) -> Result<GitlabHost, GitlabHostError> {
        match self.host_var(env) {
            Some((name, raw)) => parse_gitlab_host(name, raw),
            None => parse_gitlab_host(self.host_vars[0], OsStr::new(self.default_host)),
        }
    }

    /// Every variable this provider's rules read, for the snapshot.
    pub const fn var_count(&self) -> usize {
        2 + self.host_vars.len() + self.token_vars.len()
    }
}

/// Whether any of `names` is set in `env` (even empty).
fn any_set(env: &EnvSnapshot, names: &[&str]) -> bool {
    names.iter().any(|name| env.get(name).is_some())
}

/// GitHub. gh itself reads `GH_TOKEN` then `GITHUB_TOKEN` for github.com
/// and `*.ghe.com` (recent gh), and `GH_ENTERPRISE_TOKEN` then
/// `GITHUB_ENTERPRISE_TOKEN` for other hosts (and for `*.ghe.com` in gh
/// older than 2.4x, such as the Debian 2.23 package): kelos-gh sets both
/// families for a tenancy host, which serves every version.
pub const GITHUB: Provider = Provider {
    name: "GitHub",
    token_file_var: "KELOS_GITHUB_TOKEN_FILE",
    token_vars: &[
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GH_ENTERPRISE_TOKEN",
        "GITHUB_ENTERPRISE_TOKEN",
    ],
    classes: &[
        ClassVars {
            classes: &[HostClass::Dotcom, HostClass::Local],
            fallbacks: &["GH_TOKEN", "GITHUB_TOKEN"],
            wrapper_sets: &["GH_TOKEN"],
            wrapper_sets_if_present: &["GITHUB_TOKEN"],
        },
        ClassVars {
            classes: &[HostClass::Tenancy],
            fallbacks: &["GH_TOKEN", "GITHUB_TOKEN"],
            wrapper_sets: &["GH_TOKEN", "GH_ENTERPRISE_TOKEN"],
            wrapper_sets_if_present: &["GITHUB_TOKEN", "GITHUB_ENTERPRISE_TOKEN"],
        },
    ],
    other_classes: ClassVars {
        classes: &[],
        fallbacks: &[
            "GH_ENTERPRISE_TOKEN",
            "GITHUB_ENTERPRISE_TOKEN",
            "GITHUB_TOKEN",
        ],
        wrapper_sets: &["GH_ENTERPRISE_TOKEN"],
        wrapper_sets_if_present: &["GITHUB_ENTERPRISE_TOKEN", "GITHUB_TOKEN"],
    },
    host_vars: &["GH_HOST"],
    host_syntax: HostSyntax::Name(crate::host::parse_gh_host_var),
    default_host: "github.com",
    git_username: "x-access-token",
    cli: "gh",
    cli_path_var: "KELOS_GH_PATH",
};

/// GitLab (kelos-dev/kelos PR #1721). glab reads `GITLAB_TOKEN`, then
/// `GITLAB_ACCESS_TOKEN`, then `OAUTH_TOKEN` (not `GL_TOKEN`) for every
/// host, and its host from `GITLAB_HOST`, `GITLAB_URI`, `GL_HOST`, a base
/// URL with scheme and port or a bare host. git authenticates as `oauth2`.
pub const GITLAB: Provider = Provider {
    name: "GitLab",
    token_file_var: "KELOS_GITLAB_TOKEN_FILE",
    token_vars: &["GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN"],
    classes: &[],
    other_classes: ClassVars {
        classes: &[],
        fallbacks: &["GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN"],
        wrapper_sets: &["GITLAB_TOKEN"],
        wrapper_sets_if_present: &["GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN"],
    },
    host_vars: &["GITLAB_HOST", "GITLAB_URI", "GL_HOST"],
    host_syntax: HostSyntax::Url,
    default_host: "gitlab.com",
    git_username: "oauth2",
    cli: "glab",
    cli_path_var: "KELOS_GLAB_PATH",
};

/// Every provider the binaries know, for the variables the snapshot keeps.
pub const PROVIDERS: &[&Provider] = &[&GITHUB, &GITLAB];

/// The variables of every provider: its token file, host, token and CLI
/// path variables, in that order.
pub const PROVIDER_VARS: [&str; provider_var_count(PROVIDERS)] = provider_vars(PROVIDERS);

const fn provider_var_count(providers: &[&Provider]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < providers.len() {
        n += providers[i].var_count();
        i += 1;
    }
    n
}

const fn provider_vars<const N: usize>(providers: &[&Provider]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut at = 0;
    let mut i = 0;
    while i < providers.len() {
        let p = providers[i];
        out[at] = p.token_file_var;
        at += 1;
        at = copy_into(&mut out, at, p.host_vars);
        at = copy_into(&mut out, at, p.token_vars);
        out[at] = p.cli_path_var;
        at += 1;
        i += 1;
    }
    assert!(at == N);
    out
}

/// Copies `names` into `out` from `at`; the index after the last one.
pub(crate) const fn copy_into<const N: usize>(
    out: &mut [&'static str; N],
    mut at: usize,
    names: &[&'static str],
) -> usize {
    let mut j = 0;
    while j < names.len() {
        out[at] = names[j];
        at += 1;
        j += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::EnvSnapshot;
    use crate::host::{HostOrigin, HostProblem};
    use crate::source::{choose_for, Origin};
    use crate::Host;

    fn parse_any(name: &'static str, raw: &OsStr) -> Result<Host, HostInputError> {
        let _ = name;
        crate::host::parse_host_input(HostOrigin::HostOption, raw)
    }

    /// A second provider, shaped like GitLab (issue 20), only to prove that
    /// the rules take their names from the value: nothing below names a
    /// variable except through it.
    const SECOND: Provider = Provider {
        name: "Second",
        token_file_var: "KELOS_SECOND_TOKEN_FILE",
        token_vars: &["SECOND_TOKEN", "SECOND_ACCESS_TOKEN", "OAUTH_TOKEN"],
        classes: &[],
        other_classes: ClassVars {
            classes: &[],
            fallbacks: &["SECOND_TOKEN", "SECOND_ACCESS_TOKEN", "OAUTH_TOKEN"],
            wrapper_sets: &["SECOND_TOKEN"],
            wrapper_sets_if_present: &["SECOND_ACCESS_TOKEN", "OAUTH_TOKEN"],
        },
        host_vars: &["SECOND_HOST", "SL_HOST", "SECOND_URI"],
        host_syntax: HostSyntax::Name(parse_any),
        default_host: "second.example",
        git_username: "oauth2",
        cli: "sl",
        cli_path_var: "KELOS_SL_PATH",
    };

    const BOTH: &[&Provider] = &[&GITHUB, &SECOND];
    const BOTH_VARS: [&str; provider_var_count(BOTH)] = provider_vars(BOTH);

    #[test]
    fn a_second_provider_drives_the_same_rules() {
        assert_eq!(
            BOTH_VARS[provider_var_count(&[&GITHUB])..],
            [
                "KELOS_SECOND_TOKEN_FILE",
                "SECOND_HOST",
                "SL_HOST",
                "SECOND_URI",
                "SECOND_TOKEN",
                "SECOND_ACCESS_TOKEN",
                "OAUTH_TOKEN",
                "KELOS_SL_PATH",
            ]
        );
        for class in [HostClass::Dotcom, HostClass::Enterprise] {
            assert_eq!(SECOND.fallbacks(class), SECOND.other_classes.fallbacks);
            assert_eq!(SECOND.wrapper_vars(class, |_| false), ["SECOND_TOKEN"]);
            assert_eq!(
                SECOND.wrapper_vars(class, |n| n == "OAUTH_TOKEN"),
                ["SECOND_TOKEN", "OAUTH_TOKEN"]
            );
        }
        let set = vec!["NPM_TOKEN".to_string(), "OAUTH_TOKEN".into()];
        assert_eq!(
            SECOND.consumer_vars(|n| n == "OAUTH_TOKEN" || n == "GH_TOKEN", &set),
            ["OAUTH_TOKEN", "NPM_TOKEN"]
        );
        // The token source: the fallbacks in the provider's order, and the
        // one "why not" sentence naming its variables.
        let env = |pairs: &[(&'static str, &str)]| {
            let mut snapshot = EnvSnapshot::default();
            for (name, value) in pairs {
                snapshot.insert_for_test(name, value);
            }
            snapshot
        };
        let none = choose_for(&SECOND, &env(&[]), HostClass::Enterprise);
        assert_eq!(
            none.explain(),
            "KELOS_SECOND_TOKEN_FILE is not set; SECOND_TOKEN, SECOND_ACCESS_TOKEN, \
             OAUTH_TOKEN unset or empty"
        );
        let found = choose_for(
            &SECOND,
            &env(&[
                ("OAUTH_TOKEN", "glpat_o"),
                ("SECOND_ACCESS_TOKEN", "glpat_a"),
            ]),
            HostClass::Dotcom,
        );
        assert_eq!(found.origin, Some(Origin::Env("SECOND_ACCESS_TOKEN")));
        // Its host variables, first non-empty one, else its default host.
        assert_eq!(SECOND.host(&env(&[])).unwrap().as_str(), "second.example");
        assert_eq!(
            SECOND
                .host(&env(&[
                    ("SL_HOST", "b.example"),
                    ("SECOND_URI", "c.example")
                ]))
                .unwrap()
                .as_str(),
            "b.example"
        );
        let bad = SECOND.host(&env(&[("SECOND_HOST", "a b")])).unwrap_err();
        assert_eq!(bad.problem, HostProblem::Whitespace);
    }

    #[test]
    fn a_second_provider_s_cli_is_found_and_named_by_its_own_names() {
        use crate::real_gh::{find_real_cli, FileId};
        use std::path::Path;
        let stat = |p: &Path| {
            (p == Path::new("/b/sl")).then_some(FileId {
                dev: 1,
                ino: 2,
                is_executable_regular_file: true,
            })
        };
        let found = find_real_cli(&SECOND, None, Some(OsStr::new("/a:/b")), None, stat).unwrap();
        assert_eq!(found.path(), Path::new("/b/sl"));
        assert_eq!(
            found.shown(&SECOND).to_string(),
            "/b/sl (first sl in PATH that is not this wrapper; this wrapper is in no absolute \
             PATH entry)"
        );
        let missing = find_real_cli(&SECOND, None, Some(OsStr::new("/a")), None, stat);
        assert_eq!(
            missing.unwrap_err().shown(&SECOND).to_string(),
            "cannot find the real sl: KELOS_SL_PATH is unset, and no sl in PATH can be run \
             (searched /a: no sl); install sl or set KELOS_SL_PATH to the absolute path of \
             the real sl"
        );
    }

    #[test]
    fn gitlab_is_the_table_glab_reads() {
        for class in [HostClass::Dotcom, HostClass::Enterprise] {
            assert_eq!(
                GITLAB.fallbacks(class),
                ["GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN"]
            );
            assert_eq!(GITLAB.wrapper_vars(class, |_| false), ["GITLAB_TOKEN"]);
            assert_eq!(
                GITLAB.wrapper_vars(class, |_| true),
                ["GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN"]
            );
            for name in GITLAB.wrapper_vars(class, |_| true) {
                assert!(crate::env::KNOWN_VARS.contains(&name), "{name}");
            }
        }
        let env = |pairs: &[(&str, &str)]| EnvSnapshot::from_pairs(pairs.iter().copied());
        assert_eq!(
            GITLAB.instance(&env(&[])).unwrap().to_string(),
            "https://gitlab.com"
        );
        // glab's order: GITLAB_HOST, GITLAB_URI, GL_HOST; the first non-empty.
        let both = env(&[
            ("GL_HOST", "https://c.example"),
            ("GITLAB_URI", "http://b.example:8181/gl"),
            ("GITLAB_HOST", ""),
        ]);
        let instance = GITLAB.instance(&both).unwrap();
        assert_eq!(instance.to_string(), "http://b.example:8181/gl");
        assert_eq!(GITLAB.host(&both).unwrap().as_str(), "b.example:8181");
        let bad = GITLAB.host(&env(&[("GL_HOST", "ssh://x")])).unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("GL_HOST=\"ssh://x\" has the scheme"),
            "{bad}"
        );
        assert!(!GITLAB.in_play(&env(&[("GH_TOKEN", "x"), ("GITHUB_TOKEN", "y")])));
        assert!(GITLAB.in_play(&env(&[("GITLAB_TOKEN", "")])));
        assert!(GITLAB.in_play(&env(&[("GL_HOST", "x")])));
        assert!(!GITLAB.in_play(&env(&[("OAUTH_TOKEN", "x"), ("GITLAB_ACCESS_TOKEN", "y")])));
        assert!(!GITHUB.in_play(&env(&[("GITLAB_TOKEN", "x")])));
    }

    #[test]
    fn github_is_the_table_gh_reads() {
        assert_eq!(
            GITHUB.fallbacks(HostClass::Dotcom),
            ["GH_TOKEN", "GITHUB_TOKEN"]
        );
        assert_eq!(
            GITHUB.fallbacks(HostClass::Local),
            ["GH_TOKEN", "GITHUB_TOKEN"]
        );
        assert_eq!(
            GITHUB.fallbacks(HostClass::Tenancy),
            ["GH_TOKEN", "GITHUB_TOKEN"]
        );
        assert_eq!(
            GITHUB.fallbacks(HostClass::Enterprise),
            [
                "GH_ENTERPRISE_TOKEN",
                "GITHUB_ENTERPRISE_TOKEN",
                "GITHUB_TOKEN"
            ]
        );
        // Every name any rule reads or sets is one the snapshot keeps.
        for class in [
            HostClass::Dotcom,
            HostClass::Local,
            HostClass::Tenancy,
            HostClass::Enterprise,
        ] {
            for name in GITHUB
                .fallbacks(class)
                .iter()
                .chain(&GITHUB.wrapper_vars(class, |_| true))
            {
                assert!(GITHUB.token_vars.contains(name), "{name}");
                assert!(crate::env::KNOWN_VARS.contains(name), "{name}");
            }
        }
    }
}
