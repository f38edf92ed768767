//! Turning arbitrary spec strings into valid, idiomatic Rust identifiers.

use std::collections::HashSet;

/// Words that cannot be used as plain identifiers (strict, reserved and
/// edition-2024 keywords). A `_` suffix is appended to them.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Spelled-out names for symbols that lead a name (`+1`, `-1`, `@timestamp`,
/// `<=0m`), so that names differing only by them stay apart.
fn symbol_word(c: char) -> Option<&'static str> {
    Some(match c {
        '+' => "plus",
        '-' => "minus",
        '@' => "at",
        '$' => "dollar",
        '<' => "lt",
        '>' => "gt",
        '=' => "eq",
        '!' => "not",
        '#' => "hash",
        '%' => "percent",
        '&' => "and",
        '*' => "star",
        '~' => "tilde",
        '.' => "dot",
        '/' => "slash",
        _ => return None,
    })
}

/// Splits a name into lower-case words: at non-alphanumeric characters, at
/// lower→upper case changes and at the end of an acronym (`HTTPServer` →
/// `http`, `server`). Symbols leading the name are spelled out.
pub(crate) fn words(input: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_alphanumeric() {
            break;
        }
        if let Some(word) = symbol_word(c) {
            words.push(word.to_owned());
        }
        chars.next();
    }
    let rest: Vec<char> = chars.collect();
    let mut current = String::new();
    for (i, &c) in rest.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !current.is_empty() {
            let prev = rest[i - 1];
            let next_lower = rest.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit() && current.chars().any(|p| p.is_ascii_alphabetic())
                || (prev.is_ascii_uppercase() && next_lower)
            {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn finish(mut name: String, fallback: &str, digit_prefix: &str) -> String {
    if name.is_empty() {
        name = fallback.to_owned();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, digit_prefix);
    }
    if KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

/// `snake_case` identifier for a field, parameter or method.
pub(crate) fn snake(input: &str, fallback: &str) -> String {
    finish(words(input).join("_"), fallback, "_")
}

/// `UpperCamelCase` identifier for a type or variant.
pub(crate) fn camel(input: &str, fallback: &str) -> String {
    let mut out = String::new();
    for word in words(input) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    finish(out, fallback, "V")
}

/// A set of names in one namespace; [`Scope::claim`] makes a name unique by
/// appending a number.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    used: HashSet<String>,
}

impl Scope {
    /// A scope in which `reserved` are already taken.
    pub(crate) fn with_reserved(reserved: &[&str]) -> Self {
        Scope {
            used: reserved.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Claims `base`, or `base2`, `base3`… (`base_2` for snake-case names).
    pub(crate) fn claim(&mut self, base: String) -> String {
        if self.used.insert(base.clone()) {
            return base;
        }
        let sep = if base.contains('_') || base.starts_with(|c: char| c.is_ascii_lowercase()) {
            "_"
        } else {
            ""
        };
        let base = base.trim_end_matches('_');
        let mut n = 2usize;
        loop {
            let candidate = format!("{base}{sep}{n}");
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
            n += 1;
        }
    }
}

/// The variant name for a response status (`200` → `Ok`).
pub(crate) fn status_variant(code: u16) -> String {
    let reason = match code {
        100 => "Continue",
        101 => "SwitchingProtocols",
        200 => "Ok",
        201 => "Created",
        202 => "Accepted",
        203 => "NonAuthoritativeInformation",
        204 => "NoContent",
        205 => "ResetContent",
        206 => "PartialContent",
        207 => "MultiStatus",
        300 => "MultipleChoices",
        301 => "MovedPermanently",
        302 => "Found",
        303 => "SeeOther",
        304 => "NotModified",
        307 => "TemporaryRedirect",
        308 => "PermanentRedirect",
        400 => "BadRequest",
        401 => "Unauthorized",
        402 => "PaymentRequired",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        408 => "RequestTimeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "LengthRequired",
        412 => "PreconditionFailed",
        413 => "PayloadTooLarge",
        414 => "UriTooLong",
        415 => "UnsupportedMediaType",
        416 => "RangeNotSatisfiable",
        417 => "ExpectationFailed",
        418 => "ImATeapot",
        422 => "UnprocessableEntity",
        423 => "Locked",
        424 => "FailedDependency",
        425 => "TooEarly",
        426 => "UpgradeRequired",
        428 => "PreconditionRequired",
        429 => "TooManyRequests",
        431 => "RequestHeaderFieldsTooLarge",
        451 => "UnavailableForLegalReasons",
        500 => "InternalServerError",
        501 => "NotImplemented",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        505 => "HttpVersionNotSupported",
        507 => "InsufficientStorage",
        508 => "LoopDetected",
        511 => "NetworkAuthenticationRequired",
        _ => return format!("Status{code}"),
    };
    reason.to_owned()
}

/// The variant name for a status range (`4XX` → `ClientError`).
pub(crate) fn range_variant(class: u16) -> String {
    match class {
        1 => "Informational".to_owned(),
        2 => "Success".to_owned(),
        3 => "Redirection".to_owned(),
        4 => "ClientError".to_owned(),
        5 => "ServerError".to_owned(),
        _ => format!("Status{class}xx"),
    }
}

/// Escapes one JSON pointer token (RFC 6901).
pub(crate) fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Unescapes one JSON pointer token (RFC 6901) and its URI percent-encoding.
pub(crate) fn unescape_token(token: &str) -> String {
    let mut bytes = Vec::with_capacity(token.len());
    let raw = token.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                bytes.push(b);
                i += 3;
                continue;
            }
        }
        bytes.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes)
        .replace("~1", "/")
        .replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_names() {
        assert_eq!(snake("petId", "x"), "pet_id");
        assert_eq!(snake("HTTPServer", "x"), "http_server");
        assert_eq!(snake("type", "x"), "type_");
        assert_eq!(snake("self", "x"), "self_");
        assert_eq!(snake("Self", "x"), "self_");
        assert_eq!(snake("+1", "x"), "plus_1");
        assert_eq!(snake("-1", "x"), "minus_1");
        assert_eq!(snake("@timestamp", "x"), "at_timestamp");
        assert_eq!(snake("$ref", "x"), "dollar_ref");
        assert_eq!(snake("<=0m", "x"), "lt_eq_0m");
        assert_eq!(snake("401k", "x"), "_401k");
        assert_eq!(snake("", "field"), "field");
        assert_eq!(snake("updated_at ", "x"), "updated_at");
        assert_eq!(snake("service.ranking", "x"), "service_ranking");
        assert_eq!(snake("cash isa", "x"), "cash_isa");
        assert_eq!(snake("X-Rate-Limit", "x"), "x_rate_limit");
        assert_eq!(snake("int32Value", "x"), "int32_value");
        assert_eq!(snake("v2Name", "x"), "v2_name");
        assert_eq!(snake("日本", "field"), "field");
    }

    #[test]
    fn camel_names() {
        assert_eq!(camel("pet", "X"), "Pet");
        assert_eq!(camel("new_pet", "X"), "NewPet");
        assert_eq!(camel("io.k8s.api.core.v1.Pod", "X"), "IoK8sApiCoreV1Pod");
        assert_eq!(camel("1", "X"), "V1");
        assert_eq!(camel("", "Empty"), "Empty");
        assert_eq!(camel("Self", "X"), "Self_");
        assert_eq!(camel("HTTPError", "X"), "HttpError");
        assert_eq!(camel("application/json", "X"), "ApplicationJson");
    }

    #[test]
    fn scopes_make_names_unique() {
        let mut scope = Scope::with_reserved(&["Client"]);
        assert_eq!(scope.claim("Client".into()), "Client2");
        assert_eq!(scope.claim("Pet".into()), "Pet");
        assert_eq!(scope.claim("Pet".into()), "Pet2");
        let mut fields = Scope::default();
        assert_eq!(fields.claim("one".into()), "one");
        assert_eq!(fields.claim("one".into()), "one_2");
        assert_eq!(fields.claim("type_".into()), "type_");
        assert_eq!(fields.claim("type_".into()), "type_2");
    }

    #[test]
    fn statuses() {
        assert_eq!(status_variant(200), "Ok");
        assert_eq!(status_variant(299), "Status299");
        assert_eq!(range_variant(4), "ClientError");
    }

    #[test]
    fn pointer_tokens() {
        assert_eq!(pointer_token("/pets/{id}"), "~1pets~1{id}");
        assert_eq!(unescape_token("a~1b~0c"), "a/b~c");
        assert_eq!(unescape_token("Foo%20Bar"), "Foo Bar");
        assert_eq!(unescape_token("100%"), "100%");
    }
}
