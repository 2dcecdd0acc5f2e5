//! Recognising environment faults in what an agent CLI says: an HTTP status,
//! or the words the CLIs print for a bad key, a rate limit, an outage or a
//! bad model (runner-clis.md). Anything not recognised stays the task's.

use crate::defs::records::{AttemptClass, Fault};

/// The class of an HTTP status an API answered with.
pub fn of_status(status: u64) -> Option<AttemptClass> {
    match status {
        401 | 403 => Some(AttemptClass::Auth),
        429 => Some(AttemptClass::RateLimit),
        408 | 500..=599 => Some(AttemptClass::Unavailable),
        404 => Some(AttemptClass::Config),
        _ => None,
    }
}

/// Words of each environment fault class, checked in this order.
const CLASSES: [(AttemptClass, &[&str]); 4] = [
    (AttemptClass::Auth, AUTH_WORDS),
    (AttemptClass::RateLimit, RATE_LIMIT_WORDS),
    (AttemptClass::Config, CONFIG_WORDS),
    (AttemptClass::Unavailable, UNAVAILABLE_WORDS),
];

/// A bad key, no login, a missing key variable.
const AUTH_WORDS: &[&str] = &[
    "unauthorized",
    "forbidden",
    "invalid api key",
    "invalid x-api-key",
    "not logged in",
    "authentication_failed",
    "authentication failed",
    "no api key",
    "missing environment variable",
    "api key not found",
    "please run /login",
    "codex login",
];

/// A rate limit, an exhausted quota or usage limit, an account out of credit (Anthropic answers 400 "Your credit balance is too low…": the operator fixes it, never the task).
const RATE_LIMIT_WORDS: &[&str] = &[
    "rate limit",
    "rate_limit",
    "too many requests",
    "quota",
    "usage limit",
    "insufficient_quota",
    "Your credit balance is too
        // low…",
    "credit balance",
    "insufficient credit",
    "billing",
    "payment required",
];

/// An unknown model or provider, a refused permission mode.
const CONFIG_WORDS: &[&str] = &[
    "model not found",
    "unknown model",
    "invalid model",
    "model_not_found",
    "does not exist or you do not have access",
    "cannot be used with root",
    "unknown provider",
    "no model",
];

/// The API unreachable or failing: connection refused or reset (every wording the pinned and newest CLIs print), DNS, TLS, a dropped stream, 5xx words, overload.
const UNAVAILABLE_WORDS: &[&str] = &[
    "connection error",
    "connection refused",
    "connectionrefused",
    "unable to connect",
    "connection reset",
    "econnrefused",
    "econnreset",
    "enotfound",
    "getaddrinfo",
    "dns error",
    "failed to lookup address",
    "tls",
    "certificate",
    "stream disconnected",
    "stream error",
    "reconnecting",
    "service unavailable",
    "bad gateway",
    "gateway timeout",
    "internal server error",
    "overloaded",
    "high demand",
    "temporary error",
    "temporarily unavailable",
    "try again later",
    "network",
    "timed out",
];

/// The class of an error message, from the words the CLIs use.
pub fn of_message(message: &str) -> Option<AttemptClass> {
    let m = message.to_ascii_lowercase();
    // A status code at the start or after "status" decides first.
    if let Some(class) = status_in(&m).and_then(of_status) {
        return Some(class);
    }
    CLASSES
        .iter()
        .find(|(_, words)| words.iter().any(|w| m.contains(w)))
        .map(|(class, _)| *class)
}

/// A three-digit HTTP status named in a message (`401 Unauthorized`,
/// `unexpected status 500`, `api_error_status: 429`).
fn status_in(m: &str) -> Option<u64> {
    let bytes = m.as_bytes();
    let mut i = 0;
    while i + 3 <= bytes.len() {
        let window = &bytes[i..i + 3];
        let boundary_before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let boundary_after = i + 3 == bytes.len() || !bytes[i + 3].is_ascii_alphanumeric();
        if window.iter().all(u8::is_ascii_digit) && boundary_before && boundary_after {
            let n: u64 = std::str::from_utf8(window).ok()?.parse().ok()?;
            let context = &m[..i];
            if (400..600).contains(&n)
                && (i == 0
                    || context.ends_with("status ")
                    || context.ends_with("status: ")
                    || context.ends_with("status=")
                    || context.ends_with("http ")
                    || context.ends_with("error ")
                    || context.ends_with("code ")
                    || context.ends_with('('))
            {
                return Some(n);
            }
        }
        i += 1;
    }
    None
}

/// A fault from a message, when it names an environment fault.
pub fn fault(message: &str) -> Option<Fault> {
    of_message(message)
        .filter(|c| c.is_environment())
        .map(|class| Fault {
            class,
            message: one_line(message),
        })
}

/// The first line, at most 300 characters.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptClass::*;

    #[test]
    fn the_clis_words_are_classed() {
        for (msg, class) in [
            (
                "unexpected status 401 Unauthorized: Missing bearer",
                Some(Auth),
            ),
            ("401 Incorrect API key provided", Some(Auth)),
            ("Invalid API key · Please run /login", Some(Auth)),
            ("Not logged in · Please run /login", Some(Auth)),
            ("No API key found for the selected model.", Some(Auth)),
            (
                "Missing environment variable: `OPENAI_API_KEY`.",
                Some(Auth),
            ),
            ("unexpected status 429 Too Many Requests", Some(RateLimit)),
            ("You've hit your usage limit", Some(RateLimit)),
            (
                "unexpected status 500 Internal Server Error",
                Some(Unavailable),
            ),
            ("api_error_status: 529", Some(Unavailable)),
            ("Connection error.", Some(Unavailable)),
            // Codex 0.169's words for a 5xx.
            (
                "We’re currently experiencing high demand, which may cause temporary errors.",
                Some(Unavailable),
            ),
            ("stream disconnected before completion", Some(Unavailable)),
            ("Reconnecting... 5/5 (stream error)", Some(Unavailable)),
            (
                "The model `gpt-9` does not exist or you do not have access to it.",
                Some(Config),
            ),
            (
                "--dangerously-skip-permissions cannot be used with root/sudo privileges",
                Some(Config),
            ),
            // Claude Code 2.1.197 and 2.1.332 on an unreachable API, and an
            // account without credit (HTTP 400).
            (
                "API Error: Unable to connect to API (ConnectionRefused)",
                Some(Unavailable),
            ),
            (
                "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)",
                Some(Unavailable),
            ),
            ("Credit balance is too low", Some(RateLimit)),
            (
                "Your credit balance is too low to access the Anthropic API.",
                Some(RateLimit),
            ),
            (
                "You have reached your specified API usage limits.",
                Some(RateLimit),
            ),
            ("the tests failed in 3 places", None),
            ("wrote 500 lines", None),
        ] {
            assert_eq!(of_message(msg), class, "{msg}");
        }
    }
}
