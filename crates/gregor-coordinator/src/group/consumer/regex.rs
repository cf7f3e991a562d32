//! Regex subscriptions (`subscribed_topic_regex`): the member names a
//! pattern and the coordinator matches it against the topics of the cluster,
//! now and as topics are created. Kafka compiles them with RE2/J; the
//! `regex-automata` engine speaks the same RE2 dialect (no backreferences,
//! no lookaround, linear-time matching), and, as Java's `Matcher.matches()`,
//! a pattern must match a topic name as a whole.

use regex_automata::meta::Regex;

#[derive(Clone, Debug)]
pub(crate) struct TopicRegex {
    whole: Regex,
}

impl TopicRegex {
    /// Compiles a member's pattern; `Err` carries why it is not one.
    pub fn compile(pattern: &str) -> Result<TopicRegex, String> {
        // The pattern alone first: wrapping a malformed pattern can make it
        // well-formed ("a)|(b" inside "^(?:...)$"), and the error must be
        // about what the member sent.
        Regex::new(pattern).map_err(|e| e.to_string())?;
        let whole = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())?;
        Ok(TopicRegex { whole })
    }

    pub fn matches(&self, topic: &str) -> bool {
        self.whole.is_match(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_topic_names() {
        let re = TopicRegex::compile("orders-.*").unwrap();
        assert!(re.matches("orders-eu"));
        assert!(!re.matches("old-orders-eu"));
        // Leftmost-first engines stop at "a"; the whole name still matches.
        assert!(TopicRegex::compile("a|ab").unwrap().matches("ab"));
        assert!(!TopicRegex::compile("a|ab").unwrap().matches("abc"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in ["a)|(b", "(", "[z-a]", "x{3,1}"] {
            assert!(TopicRegex::compile(bad).is_err(), "{bad}");
        }
    }
}
