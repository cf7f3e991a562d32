//! `ssl.principal.mapping.rules`: Kafka's SslPrincipalMapper. A comma-separated
//! list of `RULE:pattern/replacement/[L|U]` and `DEFAULT`; the first rule
//! whose pattern matches the whole DN names the user (the replacement
//! applied as Java's `String.replaceAll`, then lower- or upper-cased);
//! `DEFAULT` is the DN itself. A DN no rule matches is refused.

use regex::Regex;

/// Kafka's rule grammar, split and parsed with its own patterns.
const RULE_PATTERN: &str = r"(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)";

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Map {
        pattern: Regex,
        /// The pattern anchored at both ends, for Java's `matches()`.
        whole: Regex,
        replacement: String,
        case: Option<Case>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Case {
    Lower,
    Upper,
}

/// Parsed mapping rules.
#[derive(Debug, Clone)]
pub struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

impl SslPrincipalMapper {
    /// Parses the setting; the error is one line saying which rule is wrong.
    pub fn parse(rules: &str) -> Result<SslPrincipalMapper, String> {
        let splitter =
            Regex::new(&format!(r"\s*({RULE_PATTERN})\s*(,\s*|$)")).map_err(|e| e.to_string())?;
        let parser = Regex::new(&format!("^(?:{RULE_PATTERN})")).map_err(|e| e.to_string())?;
        let mut parsed = Vec::new();
        for found in splitter.captures_iter(rules.trim()) {
            let Some(rule) = found.get(1).map(|m| m.as_str()) else {
                continue;
            };
            let Some(caps) = parser.captures(rule) else {
                return Err(format!("Invalid rule: {rule}"));
            };
            let end = caps.get(0).map_or(0, |m| m.end());
            if end != rule.len() {
                return Err(format!(
                    "Invalid rule: `{rule}`, unmatched substring: `{}`",
                    &rule[end..]
                ));
            }
            if caps.get(1).is_some() {
                parsed.push(Rule::Default);
            } else if let (Some(pattern), Some(replacement)) = (caps.get(2), caps.get(3)) {
                let pattern = pattern.as_str();
                let compile = |p: &str| {
                    Regex::new(p).map_err(|e| {
                        format!(
                            "invalid pattern `{pattern}`: {}",
                            first_line(&e.to_string())
                        )
                    })
                };
                parsed.push(Rule::Map {
                    pattern: compile(pattern)?,
                    whole: compile(&format!("^(?:{pattern})$"))?,
                    replacement: replacement.as_str().to_string(),
                    case: match caps.get(4).map(|m| m.as_str()) {
                        Some("L") => Some(Case::Lower),
                        Some("U") => Some(Case::Upper),
                        _ => None,
                    },
                });
            }
            // An empty rule (group 5) is ignored, as in Kafka.
        }
        Ok(SslPrincipalMapper { rules: parsed })
    }

    /// The user name for a DN, or None when no rule applies (Kafka then
    /// fails the authentication).
    pub fn name(&self, dn: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| apply(rule, dn))
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn apply(rule: &Rule, dn: &str) -> Option<String> {
    let Rule::Map {
        pattern,
        whole,
        replacement,
        case,
    } = rule
    else {
        return Some(dn.to_string());
    };
    if !whole.is_match(dn) {
        return None;
    }
    // String.replaceAll: every match of the pattern, replaced in turn.
    let mut out = String::new();
    let mut last = 0;
    for caps in pattern.captures_iter(dn) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&dn[last..m.start()]);
        expand(replacement, &caps, &mut out);
        last = m.end();
    }
    out.push_str(&dn[last..]);
    Some(match case {
        Some(Case::Lower) => out.to_lowercase(),
        Some(Case::Upper) => out.to_uppercase(),
        None => out,
    })
}

/// Java's replacement syntax: `\x` is a literal x, `$n` a group (digits
/// taken while the group exists). A reference to a group the pattern does
/// not have stays literal text, as Kafka escapes it.
fn expand(replacement: &str, caps: &regex::Captures<'_>, out: &mut String) {
    let groups = caps.len() - 1;
    let chars: Vec<char> = replacement.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '$' if i + 1 < chars.len() && chars[i + 1].is_ascii_digit() => {
                let first = chars[i + 1].to_digit(10).unwrap_or(0) as usize;
                if first > groups {
                    out.push('$');
                    i += 1;
                    continue;
                }
                let mut group = first;
                let mut j = i + 2;
                while j < chars.len() {
                    let Some(d) = chars[j].to_digit(10) else {
                        break;
                    };
                    let next = group * 10 + d as usize;
                    if next > groups {
                        break;
                    }
                    group = next;
                    j += 1;
                }
                if let Some(m) = caps.get(group) {
                    out.push_str(m.as_str());
                }
                i = j;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Kafka's documentation ("Customizing SSL User Name").
    const DOCS_RULES: &str = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\
        RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\
        RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,\
        DEFAULT";

    #[test]
    fn kafka_documentation_examples() {
        let mapper = SslPrincipalMapper::parse(DOCS_RULES).unwrap();
        let name = |dn: &str| mapper.name(dn).unwrap();
        assert_eq!(
            name("CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"),
            "serviceuser"
        );
        assert_eq!(
            name("CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"),
            "adminuser@admin"
        );
        assert_eq!(name("CN=Duke,OU=JavaSoft,O=Sun Microsystems"), "duke");
        assert_eq!(
            name("OU=JavaSoft,O=Sun Microsystems,C=US"),
            "OU=JavaSoft,O=Sun Microsystems,C=US"
        );
    }

    #[test]
    fn kafka_mapper_test_cases() {
        // Every expected name (and refusal) in these tests was checked against
        // SslPrincipalMapper of kafka-clients 4.4.0.
        let m =
            SslPrincipalMapper::parse("RULE:^CN=(.*),OU=ServiceUsers.*$/$1/U, DEFAULT").unwrap();
        assert_eq!(m.name("CN=Duke,OU=ServiceUsers,O=Org").unwrap(), "DUKE");
        let m =
            SslPrincipalMapper::parse("RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/").unwrap();
        assert_eq!(
            m.name("cn=hbase,ou=hadoop,dc=example,dc=com").unwrap(),
            "hbase@hadoop"
        );
        assert_eq!(m.name("CN=nomatch"), None);
        // Escaped slashes in the pattern and replacement.
        let m = SslPrincipalMapper::parse(r"RULE:^CN=(.*?)\/(.*?)$/$1\/$2/").unwrap();
        assert_eq!(m.name("CN=a/b").unwrap(), "a/b");
        // A back reference to a group that does not exist stays literal.
        let m = SslPrincipalMapper::parse("RULE:^CN=(.*?),OU=(.*?)$/$1@$3/").unwrap();
        assert_eq!(m.name("CN=a,OU=b").unwrap(), "a@$3");
        // Java's group references: $12 with one group is $1 then "2"; $0
        // is the whole match.
        let m = SslPrincipalMapper::parse("RULE:^CN=([a-z]+).*$/$1-$12-$0/").unwrap();
        assert_eq!(m.name("CN=abc,O=x").unwrap(), "abc-abc2-CN=abc,O=x");
        let m = SslPrincipalMapper::parse("RULE:CN=(.*)/x$1/").unwrap();
        assert_eq!(m.name("CN=q").unwrap(), "xq");
        // Whitespace around rules, and an empty default setting.
        let m = SslPrincipalMapper::parse("  RULE:^CN=(.*)$/$1/L ,  DEFAULT  ").unwrap();
        assert_eq!(m.name("CN=X").unwrap(), "x");
        assert_eq!(m.name("O=Y").unwrap(), "O=Y");
    }

    #[test]
    fn invalid_rules_are_refused() {
        for rules in [
            "default",
            "DEFAUL",
            "RULE:/",
            "RULE:^CN=(.*?)$/$1/X",
            "RULE:^CN=(.*?)$/$1/L,garbage",
            "RULE:^CN=(.*?$/$1/",
        ] {
            assert!(SslPrincipalMapper::parse(rules).is_err(), "{rules}");
        }
    }
}
