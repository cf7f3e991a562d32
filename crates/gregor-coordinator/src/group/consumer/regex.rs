//! Regex subscriptions (`subscribed_topic_regex`): the member names a
//! pattern and the coordinator matches it against the topics of the cluster,
//! now and as topics are created. Kafka compiles them with RE2/J; the
//! `regex-automata` engine speaks the same RE2 dialect (no backreferences,
//! no lookaround, linear-time matching), and, as Java's `Matcher.matches()`,
//! a pattern must match a topic name as a whole.

use regex_automata::meta::Regex;
use std::collections::BTreeSet;

#[derive(Clone, Debug)]
pub(crate) struct TopicRegex {
    whole: Regex,
    /// With an authorizer, as Kafka's regex resolver: the matching topics
    /// the principal of the last heartbeat that resolved the pattern may
    /// Describe. `None`: every matching topic (no authorizer, or not
    /// resolved since this coordinator loaded the group).
    resolved: Option<BTreeSet<String>>,
}

impl TopicRegex {
    /// Compiles a member's pattern; `Err` carries why it is not one.
    pub fn compile(pattern: &str) -> Result<TopicRegex, String> {
        // The pattern alone first: wrapping a malformed pattern can make it
        // well-formed ("a)|(b" inside "^(?:...)$"), and the error must be
        // about what the member sent.
        Regex::new(pattern).map_err(|e| e.to_string())?;
        let whole = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())?;
        Ok(TopicRegex {
            whole,
            resolved: None,
        })
    }

    pub fn matches(&self, topic: &str) -> bool {
        match &self.resolved {
            Some(topics) => topics.contains(topic),
            None => self.whole.is_match(topic),
        }
    }

    /// Resolves the pattern over `names`, keeping only the topics
    /// `describable` lets through (Kafka filters with the heartbeat's
    /// principal, so members never see undescribable topics assigned).
    pub fn resolve<'a>(
        &mut self,
        names: impl Iterator<Item = &'a str>,
        describable: &dyn Fn(&str) -> bool,
    ) {
        self.resolved = Some(
            names
                .filter(|name| self.whole.is_match(name) && describable(name))
                .map(str::to_string)
                .collect(),
        );
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
    fn resolution_keeps_only_describable_topics() {
        let mut re = TopicRegex::compile("t.*").unwrap();
        re.resolve(["t1", "t2", "x"].into_iter(), &|name| name != "t2");
        assert!(re.matches("t1"));
        assert!(!re.matches("t2"));
        assert!(!re.matches("x"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in ["a)|(b", "(", "[z-a]", "x{3,1}"] {
            assert!(TopicRegex::compile(bad).is_err(), "{bad}");
        }
    }
}
